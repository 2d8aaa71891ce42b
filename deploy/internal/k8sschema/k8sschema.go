// Package k8sschema writes JSON schemas for the Kubernetes kinds herald's
// manifests use, so that they can be checked strictly without a network.
//
// kubeconform validates manifests against JSON schemas that it normally
// downloads from GitHub; CI and a newcomer's machine may reach nothing but
// the Go module proxy. The schemas here are derived by reflection from the
// Go types of k8s.io/api (the same types the API server decodes into), at
// the version in go.mod: every field a type declares and no other
// (additionalProperties false, like kubeconform's "-strict" schemas), its
// JSON type, int-or-string and quantity unions, and as required every field
// whose json tag has neither omitempty nor omitzero, which is how the
// Kubernetes API conventions mark required fields. What they cannot express
// is the API server's own validation (name formats, enum values, one-of
// rules); the deploy tests check what matters to herald of that by hand.
package k8sschema

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// Kind is one Kubernetes resource kind with the Go type that holds it.
type Kind struct {
	APIVersion string       // e.g. "apps/v1"
	Kind       string       // e.g. "Deployment"
	Type       reflect.Type // e.g. appsv1.Deployment
}

// FileName is the schema's file name in kubeconform's layout, the
// {{ .ResourceKind }}{{ .KindSuffix }}.json of PathTemplate:
// "deployment-apps-v1.json", "service-v1.json".
func (k Kind) FileName() string {
	suffix := "-" + strings.ToLower(strings.ReplaceAll(k.APIVersion, "/", "-"))
	if group, version, ok := strings.Cut(k.APIVersion, "/"); ok {
		// kubeconform keeps only the first label of a dotted group.
		group, _, _ = strings.Cut(group, ".")
		suffix = "-" + strings.ToLower(group) + "-" + strings.ToLower(version)
	}
	return strings.ToLower(k.Kind) + suffix + ".json"
}

// PathTemplate is the file part of kubeconform's -schema-location for a
// folder written by Write: -schema-location "DIR/"+PathTemplate.
const PathTemplate = "{{ .ResourceKind }}{{ .KindSuffix }}.json"

// Kinds are the kinds herald's manifests may use. A manifest of another
// kind has no schema and fails validation, which is the point: adding a
// kind is a decision, made here.
var Kinds = []Kind{
	{"v1", "ConfigMap", reflect.TypeFor[corev1.ConfigMap]()},
	{"v1", "Secret", reflect.TypeFor[corev1.Secret]()},
	{"v1", "Service", reflect.TypeFor[corev1.Service]()},
	{"v1", "ServiceAccount", reflect.TypeFor[corev1.ServiceAccount]()},
	{"v1", "Namespace", reflect.TypeFor[corev1.Namespace]()},
	{"v1", "PersistentVolumeClaim", reflect.TypeFor[corev1.PersistentVolumeClaim]()},
	{"apps/v1", "Deployment", reflect.TypeFor[appsv1.Deployment]()},
	{"batch/v1", "CronJob", reflect.TypeFor[batchv1.CronJob]()},
	{"policy/v1", "PodDisruptionBudget", reflect.TypeFor[policyv1.PodDisruptionBudget]()},
	{"autoscaling/v2", "HorizontalPodAutoscaler", reflect.TypeFor[autoscalingv2.HorizontalPodAutoscaler]()},
}

// Write writes one schema file per entry of Kinds into dir, creating it.
func Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create schema folder: %w", err)
	}
	for _, k := range Kinds {
		b, err := json.MarshalIndent(Schema(k), "", " ")
		if err != nil {
			return fmt.Errorf("encode %s schema: %w", k.Kind, err)
		}
		if err := os.WriteFile(filepath.Join(dir, k.FileName()), b, 0o644); err != nil {
			return fmt.Errorf("write %s schema: %w", k.Kind, err)
		}
	}
	return nil
}

// Schema returns the JSON schema (draft 4, kubeconform's default) of one
// kind: the kind's own object at the top, with every struct it reaches in
// "definitions", and apiVersion and kind fixed to the kind's.
func Schema(k Kind) map[string]any {
	g := &generator{defs: map[string]any{}}
	root := g.object(k.Type)
	props := root["properties"].(map[string]any)
	props["apiVersion"] = map[string]any{"type": "string", "enum": []any{k.APIVersion}}
	props["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
	root["required"] = mergeRequired(root["required"], "apiVersion", "kind")
	root["definitions"] = g.defs
	return root
}

type generator struct {
	defs map[string]any
}

// Methods by which apimachinery's types tell the OpenAPI generator how
// they are written in JSON (resource.Quantity, intstr.IntOrString,
// metav1.Time, metav1.Duration ...).
type (
	oneOfTyper   interface{ OpenAPIV3OneOfTypes() []string }
	openAPITyper interface{ OpenAPISchemaType() []string }
)

// schema returns the schema of a value of type t.
func (g *generator) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s := special(t); s != nil {
		return s
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"} // base64
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // a recursive type refers to itself while being built
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	}
	return map[string]any{} // interface{} and the like: anything
}

// special is the schema of a type that marshals itself, or nil.
func special(t reflect.Type) map[string]any {
	for _, tt := range []reflect.Type{t, reflect.PointerTo(t)} {
		if tt.Implements(reflect.TypeFor[oneOfTyper]()) {
			v := reflect.New(t).Interface().(oneOfTyper)
			var alts []any
			for _, typ := range v.OpenAPIV3OneOfTypes() {
				alts = append(alts, map[string]any{"type": typ})
			}
			return map[string]any{"oneOf": alts}
		}
	}
	for _, tt := range []reflect.Type{t, reflect.PointerTo(t)} {
		if tt.Implements(reflect.TypeFor[openAPITyper]()) {
			v := reflect.New(t).Interface().(openAPITyper)
			if types := v.OpenAPISchemaType(); len(types) == 1 {
				return map[string]any{"type": types[0]}
			}
			return map[string]any{}
		}
	}
	for _, tt := range []reflect.Type{t, reflect.PointerTo(t)} {
		if tt.Implements(reflect.TypeFor[json.Unmarshaler]()) && t.Kind() == reflect.Struct {
			// Its own JSON form (runtime.RawExtension, FieldsV1): anything.
			return map[string]any{}
		}
	}
	return nil
}

// object is the schema of a struct: its JSON fields, embedded structs
// flattened as encoding/json does, nothing else allowed.
func (g *generator) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	s := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}

func (g *generator) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		if optional(opts) {
			s = nullable(s)
		} else {
			*required = append(*required, name)
		}
		props[name] = s
	}
}

// optional reports whether json tag options mark a field optional.
func optional(opts string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			return true
		}
	}
	return false
}

// nullable lets an optional field also be null, which the API server
// takes as absent (YAML "field:" with no value). Only fields with a plain
// type get it: a struct ($ref) or a union would need an anyOf, whose
// errors ("anyOf failed" at the top) hide where a manifest is wrong, and
// a null object in herald's own manifests is a mistake worth flagging.
func nullable(s map[string]any) map[string]any {
	typ, ok := s["type"].(string)
	if !ok {
		return s
	}
	c := make(map[string]any, len(s))
	for k, v := range s {
		c[k] = v
	}
	c["type"] = []any{typ, "null"}
	return c
}

// defName names a struct type in "definitions": its package path and
// name with slashes turned to dots (a JSON pointer must not contain "/").
func defName(t reflect.Type) string {
	return strings.ReplaceAll(t.PkgPath(), "/", ".") + "." + t.Name()
}

func mergeRequired(existing any, names ...string) []string {
	var out []string
	if r, ok := existing.([]string); ok {
		out = append(out, r...)
	}
	for _, n := range names {
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
