package k8sschema

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/validator"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  selector:
    matchLabels: {app: d}
  template:
    metadata:
      labels: {app: d}
    spec:
      containers:
        - name: c
          image: i
          ports: [{name: http, containerPort: 8080}]
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 1, memory: 256Mi}
          livenessProbe:
            httpGet: {path: /healthz, port: http}
          readinessProbe:
            httpGet: {path: /readyz, port: 8080}
`

// TestSchemasValidate runs kubeconform with the written schemas over
// manifests that must pass and manifests that must fail, so that a
// generator that lets everything through is caught.
func TestSchemasValidate(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	v, err := validator.New([]string{filepath.Join(dir, PathTemplate)}, validator.Opts{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		manifest string
		valid    bool
		wantPath string // where the error is, for invalid manifests
	}{
		{"valid deployment (int-or-string ports, quantities as number and string)", deployment, true, ""},
		{"optional field null", strings.Replace(deployment, "  selector:", "  replicas:\n  selector:", 1), true, ""},
		{"unknown field", strings.Replace(deployment, "image: i", "image: i\n          imagePullPolicyy: Always", 1), false, "/spec/template/spec/containers/0"},
		{"unknown top-level field", deployment + "status2: {}\n", false, ""},
		{"missing required selector", strings.Replace(deployment, "  selector:\n    matchLabels: {app: d}\n", "", 1), false, "/spec"},
		{"missing required container name", strings.Replace(deployment, "- name: c\n          image: i", "- image: i", 1), false, "/spec/template/spec/containers/0"},
		{"required field null", strings.Replace(deployment, "- name: c", "- name:", 1), false, "/spec/template/spec/containers/0/name"},
		{"wrong type", strings.Replace(deployment, "  selector:", "  replicas: two\n  selector:", 1), false, "/spec/replicas"},
		{"port neither int nor string", strings.Replace(deployment, "port: 8080", "port: [8080]", 1), false, "/spec/template/spec/containers/0/readinessProbe/httpGet/port"},
		{"quantity as object", strings.Replace(deployment, "cpu: 1,", "cpu: {n: 1},", 1), false, "/spec/template/spec/containers/0/resources/limits/cpu"},
		{"wrong kind for apiVersion", strings.Replace(deployment, "apps/v1", "v1", 1), false, ""},
		{"service", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {app: d}\n  ports: [{port: 25, targetPort: smtp}]\n", true, ""},
		{"service port without number", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{targetPort: smtp}]\n", false, "/spec/ports/0"},
		{"autoscaler", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: d}
  maxReplicas: 3
  metrics:
    - type: External
      external:
        metric: {name: herald_queue_pending}
        target: {type: AverageValue, averageValue: "2000"}
`, true, ""},
		{"autoscaler without maxReplicas", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {kind: Deployment, name: d}\n", false, "/spec"},
		{"duplicate key", strings.Replace(deployment, "image: i", "image: i\n          image: j", 1), false, ""},
		{"kind with no schema", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\n", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := v.Validate(tt.name, io.NopCloser(bytes.NewReader([]byte(tt.manifest))))
			if len(res) != 1 {
				t.Fatalf("%d results, want 1", len(res))
			}
			r := res[0]
			if tt.valid {
				if r.Status != validator.Valid {
					t.Errorf("status %v, want valid: %v %+v", r.Status, r.Err, r.ValidationErrors)
				}
				return
			}
			if r.Status == validator.Valid || r.Status == validator.Skipped {
				t.Fatalf("status %v, want invalid", r.Status)
			}
			if tt.wantPath == "" {
				return
			}
			// kubeconform lists the innermost errors in the message.
			if r.Err == nil || !strings.Contains(r.Err.Error(), "at '"+tt.wantPath+"'") {
				t.Errorf("error %v, want one at %s", r.Err, tt.wantPath)
			}
		})
	}
}

func TestFileNames(t *testing.T) {
	tests := []struct {
		apiVersion, kind, want string
	}{
		{"v1", "ConfigMap", "configmap-v1.json"},
		{"apps/v1", "Deployment", "deployment-apps-v1.json"},
		{"autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscaler-autoscaling-v2.json"},
		{"networking.k8s.io/v1", "Ingress", "ingress-networking-v1.json"},
	}
	for _, tt := range tests {
		if got := (Kind{APIVersion: tt.apiVersion, Kind: tt.kind}).FileName(); got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.apiVersion, tt.kind, got, tt.want)
		}
	}
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(Kinds) {
		t.Errorf("wrote %d files for %d kinds", len(entries), len(Kinds))
	}
}
