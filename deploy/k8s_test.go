package deploy

import (
	"bytes"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/validator"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/heraldhq/herald/deploy/internal/k8sschema"
)

// manifests is one rendered kustomization, decoded into the API's types.
type manifests struct {
	dir             string
	raw             []byte // the rendered YAML stream
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	serviceAccounts map[string]*corev1.ServiceAccount
	namespaces      map[string]*corev1.Namespace
	pdbs            map[string]*policyv1.PodDisruptionBudget
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	cronJobs        map[string]*batchv1.CronJob
	scaledObjects   map[string]*scaledObject
	namespaced      map[string]string // "Kind/name" -> namespace
}

// scaledObject is the part of KEDA's ScaledObject that optional/keda uses,
// decoded strictly so that a misspelt field fails (KEDA's CRD schema is not
// available offline).
type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// render builds a kustomization as `kustomize build` does (same library,
// default load restrictions), validates every object with kubeconform
// against the schemas of k8sschema, and decodes it strictly.
func render(t *testing.T, dir string) *manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	raw, err := resMap.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{
		dir: dir, raw: raw,
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, serviceAccounts: map[string]*corev1.ServiceAccount{},
		namespaces: map[string]*corev1.Namespace{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, cronJobs: map[string]*batchv1.CronJob{},
		scaledObjects: map[string]*scaledObject{}, namespaced: map[string]string{},
	}
	kubeconform(t, dir, raw, "ScaledObject")
	for _, r := range resMap.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		name, kind := r.GetName(), r.GetKind()
		var obj any
		switch kind {
		case "Deployment":
			m.deployments[name] = &appsv1.Deployment{}
			obj = m.deployments[name]
		case "Service":
			m.services[name] = &corev1.Service{}
			obj = m.services[name]
		case "ConfigMap":
			m.configMaps[name] = &corev1.ConfigMap{}
			obj = m.configMaps[name]
		case "ServiceAccount":
			m.serviceAccounts[name] = &corev1.ServiceAccount{}
			obj = m.serviceAccounts[name]
		case "Namespace":
			m.namespaces[name] = &corev1.Namespace{}
			obj = m.namespaces[name]
		case "PodDisruptionBudget":
			m.pdbs[name] = &policyv1.PodDisruptionBudget{}
			obj = m.pdbs[name]
		case "HorizontalPodAutoscaler":
			m.hpas[name] = &autoscalingv2.HorizontalPodAutoscaler{}
			obj = m.hpas[name]
		case "CronJob":
			m.cronJobs[name] = &batchv1.CronJob{}
			obj = m.cronJobs[name]
		case "ScaledObject":
			m.scaledObjects[name] = &scaledObject{}
			obj = m.scaledObjects[name]
		default:
			t.Errorf("%s: %s/%s: no test knows this kind; add it to render and to k8sschema.Kinds", dir, kind, name)
			continue
		}
		// Strict: an unknown or duplicate field is an error, as is a
		// value its Go type rejects (a quantity such as "128MB").
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Errorf("%s: %s/%s does not decode strictly: %v", dir, kind, name, err)
			_ = yaml.Unmarshal(b, obj) // what can be read, for the checks that follow
		}
		if kind != "Namespace" {
			m.namespaced[kind+"/"+name] = r.GetNamespace()
		}
	}
	return m
}

// kubeconform validates a YAML stream as `kubeconform -strict` would,
// with the schemas written by k8sschema; kinds in skip are not checked.
func kubeconform(t *testing.T, name string, stream []byte, skip ...string) {
	t.Helper()
	dir := t.TempDir()
	if err := k8sschema.Write(dir); err != nil {
		t.Fatal(err)
	}
	skipKinds := map[string]struct{}{}
	for _, k := range skip {
		skipKinds[k] = struct{}{}
	}
	v, err := validator.New([]string{filepath.Join(dir, k8sschema.PathTemplate)}, validator.Opts{Strict: true, SkipKinds: skipKinds})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, res := range v.Validate(name, io.NopCloser(bytes.NewReader(stream))) {
		switch res.Status {
		case validator.Valid:
			n++
		case validator.Skipped, validator.Empty:
		default:
			sig, _ := res.Resource.Signature()
			where := name
			if sig != nil {
				where += ": " + sig.Kind + "/" + sig.Name
			}
			t.Errorf("kubeconform %s: %v", where, res.Err)
			for _, ve := range res.ValidationErrors {
				t.Errorf("    %s: %s", ve.Path, ve.Msg)
			}
		}
	}
	if n == 0 {
		t.Errorf("kubeconform %s: no resource validated", name)
	}
}

// podSpec is one workload's pod template, for the checks all share.
type podSpec struct {
	where  string
	labels map[string]string
	spec   *corev1.PodSpec
}

func (m *manifests) pods() []podSpec {
	var out []podSpec
	for _, name := range keys(m.deployments) {
		d := m.deployments[name]
		out = append(out, podSpec{m.dir + ": Deployment/" + name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
	}
	for _, name := range keys(m.cronJobs) {
		c := m.cronJobs[name]
		out = append(out, podSpec{m.dir + ": CronJob/" + name, c.Spec.JobTemplate.Spec.Template.Labels, &c.Spec.JobTemplate.Spec.Template.Spec})
	}
	return out
}

// config is the one ConfigMap herald's pods take their settings from.
func (m *manifests) config(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	if len(m.configMaps) != 1 {
		t.Fatalf("%s: want one ConfigMap, got %v", m.dir, keys(m.configMaps))
	}
	for _, c := range m.configMaps {
		return c
	}
	return nil
}

func TestKubernetesBase(t *testing.T) {
	m := render(t, "k8s/base")
	cfg := m.config(t)
	checkPods(t, m, cfg)

	for _, c := range m.pods() {
		if got := c.spec.Containers[0].Image; got != "ghcr.io/heraldhq/herald:latest" {
			t.Errorf("%s: image %q, want the kustomization's images: entry applied", c.where, got)
		}
	}

	// The Deployments and what each runs.
	workloads := []struct {
		deployment, subcommand string
		replicas               *int32 // nil: owned by an autoscaler
		memRequest, memLimit   string
	}{
		{"herald-serve", "serve", ptr[int32](2), "128Mi", "512Mi"},
		{"herald-worker", "worker", nil, "128Mi", "256Mi"},
		{"herald-bounce-receiver", "bounce-receiver", ptr[int32](1), "64Mi", "256Mi"},
	}
	if len(m.deployments) != len(workloads) {
		t.Errorf("Deployments %v, want %d", keys(m.deployments), len(workloads))
	}
	for _, w := range workloads {
		t.Run(w.deployment, func(t *testing.T) {
			d := m.deployments[w.deployment]
			if d == nil {
				t.Fatalf("no Deployment %s", w.deployment)
			}
			c := d.Spec.Template.Spec.Containers[0]
			checkSubcommand(t, "Deployment/"+d.Name, c.Args, w.subcommand)
			if (w.replicas == nil) != (d.Spec.Replicas == nil) || (w.replicas != nil && *w.replicas != *d.Spec.Replicas) {
				t.Errorf("replicas %v, want %v", deref(d.Spec.Replicas), deref(w.replicas))
			}
			if got := c.Resources.Requests.Memory().String(); got != w.memRequest {
				t.Errorf("memory request %s, want %s", got, w.memRequest)
			}
			if got := c.Resources.Limits.Memory().String(); got != w.memLimit {
				t.Errorf("memory limit %s, want %s", got, w.memLimit)
			}
			if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
				t.Errorf("terminationGracePeriodSeconds %v: running sends need at least 30 s to finish", deref(g))
			}
		})
	}

	// serve: probes and its Service.
	serve := m.deployments["herald-serve"]
	if serve != nil {
		c := serve.Spec.Template.Spec.Containers[0]
		probes := []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}}
		for _, p := range probes {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("serve: no HTTP %s probe", p.name)
				continue
			}
			if p.probe.HTTPGet.Path != p.path || containerPort(c, p.probe.HTTPGet.Port) != 8080 {
				t.Errorf("serve: %s probe GET %s on port %s, want %s on 8080", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
			}
		}
		if addr := cfg.Data["HERALD_WEB_ADDR"]; addr != "" && !strings.HasSuffix(addr, ":8080") {
			t.Errorf("HERALD_WEB_ADDR=%s but the container port is 8080", addr)
		}
	}
	checkService(t, m, "herald-serve", 8080, "herald-serve")
	checkService(t, m, "herald-bounce-receiver", 25, "herald-bounce-receiver")

	// The bounce receiver listens where its container port and Service say.
	if b := m.deployments["herald-bounce-receiver"]; b != nil {
		c := b.Spec.Template.Spec.Containers[0]
		listen := cfg.Data["HERALD_BOUNCE_LISTEN"]
		if port := containerPort(c, intstr.FromString("smtp")); !strings.HasSuffix(listen, ":"+itoa(port)) {
			t.Errorf("HERALD_BOUNCE_LISTEN=%q but the smtp container port is %d", listen, port)
		} else if port < 1024 {
			t.Errorf("the bounce receiver listens on %d: below 1024 it needs a privilege the restricted pod lacks", port)
		}
		dir := cfg.Data["HERALD_BOUNCE_UNMATCHED_DIR"]
		if !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.MountPath == dir && !v.ReadOnly }) {
			t.Errorf("HERALD_BOUNCE_UNMATCHED_DIR=%q is not a writable volume (the root file system is read-only)", dir)
		}
	}

	// PodDisruptionBudgets for serve and the workers, each selecting pods.
	for _, name := range []string{"herald-serve", "herald-worker"} {
		p := m.pdbs[name]
		if p == nil {
			t.Errorf("no PodDisruptionBudget %s", name)
			continue
		}
		if n := m.selected(t, p.Spec.Selector); len(n) != 1 || n[0] != name {
			t.Errorf("PodDisruptionBudget %s selects %v, want [%s]", name, n, name)
		}
	}

	// The worker autoscaler: notices waiting in the ledger, on the worker
	// Deployment (Redis holds only a window of jobs).
	hpa := m.hpas["herald-worker"]
	if hpa == nil {
		t.Fatal("no HorizontalPodAutoscaler herald-worker")
	}
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || m.deployments[ref.Name] == nil {
		t.Errorf("autoscaler targets %s %s/%s, not a Deployment here", ref.APIVersion, ref.Kind, ref.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("autoscaler replicas %v..%d", deref(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Type != autoscalingv2.ExternalMetricSourceType ||
		hpa.Spec.Metrics[0].External.Metric.Name != "herald_notices_waiting" ||
		hpa.Spec.Metrics[0].External.Target.Type != autoscalingv2.AverageValueMetricType {
		t.Errorf("autoscaler metrics %+v, want the External metric herald_notices_waiting as an average per worker", hpa.Spec.Metrics)
	}

	// The hourly reconcile.
	cj := m.cronJobs["herald-reconcile"]
	if cj == nil {
		t.Fatal("no CronJob herald-reconcile")
	}
	checkSubcommand(t, "CronJob/herald-reconcile", cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "reconcile")
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("reconcile concurrencyPolicy %q: two at once would race", cj.Spec.ConcurrencyPolicy)
	}
	if f := strings.Fields(cj.Spec.Schedule); len(f) != 5 || f[1] != "*" {
		t.Errorf("reconcile schedule %q, want hourly", cj.Spec.Schedule)
	}
}

// checkPods checks what every herald pod needs, whatever it runs.
func checkPods(t *testing.T, m *manifests, cfg *corev1.ConfigMap) {
	t.Helper()
	var fileDirs []string // folders the *_FILE settings point into
	for k, v := range cfg.Data {
		if strings.HasSuffix(k, "_FILE") {
			fileDirs = append(fileDirs, path.Dir(v))
		}
	}
	for _, p := range m.pods() {
		s := p.spec
		if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it never uses", p.where)
		}
		if m.serviceAccounts[s.ServiceAccountName] == nil {
			t.Errorf("%s: service account %q is not in the manifests", p.where, s.ServiceAccountName)
		}
		if s.HostNetwork || s.HostPID || s.HostIPC {
			t.Errorf("%s: uses a host namespace", p.where)
		}
		checkRestricted(t, p.where, s)
		if len(s.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", p.where, len(s.Containers))
			continue
		}
		c := s.Containers[0]
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", p.where, r)
			}
		}
		limit, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			t.Errorf("%s: no memory limit", p.where)
		}
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
				if err != nil || q.Cmp(limit) >= 0 {
					t.Errorf("%s: GOMEMLIMIT=%s must be below the memory limit %s", p.where, e.Value, limit.String())
				}
			}
			if strings.HasPrefix(e.Name, "HERALD_") && e.Value != "" && secretLike(e.Name, e.Value) {
				t.Errorf("%s: %s is a secret written into the manifest", p.where, e.Name)
			}
			checkVariables(t, p.where, []string{e.Name})
		}
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cfg.Name {
			t.Errorf("%s: settings not from ConfigMap %s: %+v", p.where, cfg.Name, c.EnvFrom)
		}
		// Every *_FILE setting must point into a mounted secret volume
		// that the pod's user can read.
		secretMounts := map[string]bool{}
		for _, v := range s.Volumes {
			if v.Secret == nil {
				continue
			}
			if v.Secret.SecretName != "herald" {
				t.Errorf("%s: secret volume %s from %q, want the Secret herald", p.where, v.Name, v.Secret.SecretName)
			}
			if mode := v.Secret.DefaultMode; mode == nil || *mode&0o007 != 0 || (*mode&0o040 != 0 && s.SecurityContext.FSGroup == nil) {
				t.Errorf("%s: secret files mode %o: want readable by the pod's group (fsGroup) and nobody else", p.where, deref(mode))
			}
			for _, vm := range c.VolumeMounts {
				if vm.Name == v.Name {
					secretMounts[vm.MountPath] = true
				}
			}
		}
		for _, d := range fileDirs {
			if !secretMounts[d] {
				t.Errorf("%s: a *_FILE setting points into %s, where no secret is mounted", p.where, d)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != "herald" {
				t.Errorf("%s: %s from Secret %q, want herald", p.where, e.Name, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	// The settings themselves.
	checkVariables(t, m.dir+": ConfigMap "+cfg.Name, keys(cfg.Data))
	for k, v := range cfg.Data {
		if secretLike(k, v) {
			t.Errorf("%s: ConfigMap holds the secret %s: put it in the Secret herald and name its file in %s_FILE", m.dir, k, k)
		}
	}
}

// checkRestricted checks the Pod Security Standard "restricted", which the
// example namespace enforces, and a read-only root file system.
func checkRestricted(t *testing.T, where string, s *corev1.PodSpec) {
	t.Helper()
	psc := s.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot not set on the pod", where)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: runAsUser not set to a non-root user", where)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile RuntimeDefault not set on the pod", where)
	}
	for _, v := range s.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: hostPath volume %s", where, v.Name)
		}
	}
	for _, c := range s.Containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: container %s has no securityContext", where, c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container %s may escalate privileges", where, c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: container %s has a writable root file system", where, c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: container %s must drop ALL capabilities and add none", where, c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: container %s is privileged", where, c.Name)
		}
	}
}

// checkService checks that a Service exposes port and reaches exactly the
// pods of one Deployment, on a port their container declares.
func checkService(t *testing.T, m *manifests, name string, port int32, deployment string) {
	t.Helper()
	s := m.services[name]
	if s == nil {
		t.Errorf("no Service %s", name)
		return
	}
	selected := m.selected(t, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
	if len(selected) != 1 || selected[0] != deployment {
		t.Errorf("Service %s selects the pods of %v, want [%s]", name, selected, deployment)
		return
	}
	c := m.deployments[deployment].Spec.Template.Spec.Containers[0]
	for _, p := range s.Spec.Ports {
		if p.Port == port {
			if containerPort(c, p.TargetPort) == 0 {
				t.Errorf("Service %s port %d targets %s, which container %s does not expose", name, port, p.TargetPort.String(), c.Name)
			}
			return
		}
	}
	t.Errorf("Service %s does not expose port %d", name, port)
}

// selected lists the Deployments whose pods a selector matches.
func (m *manifests) selected(t *testing.T, sel *metav1.LabelSelector) []string {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %+v: %v", sel, err)
	}
	if s.Empty() {
		t.Errorf("empty selector: it matches every pod in the namespace")
	}
	var out []string
	for _, name := range keys(m.deployments) {
		if s.Matches(labels.Set(m.deployments[name].Spec.Template.Labels)) {
			out = append(out, name)
		}
	}
	return out
}

// containerPort resolves a port by number or name; 0 when undeclared.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

func TestKubernetesDeploymentSelectors(t *testing.T) {
	m := render(t, "k8s/base")
	for name, d := range m.deployments {
		s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !s.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector %v does not match its pods' labels %v", name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		if got := m.selected(t, d.Spec.Selector); len(got) != 1 {
			t.Errorf("Deployment %s: selector also matches the pods of %v", name, got)
		}
	}
}

func TestKubernetesExampleOverlay(t *testing.T) {
	m := render(t, "k8s/overlays/example")
	checkPods(t, m, m.config(t))
	ns := m.namespaces["herald"]
	if ns == nil {
		t.Fatal("the example overlay creates no Namespace herald")
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("Namespace herald: Pod Security %q, want restricted", ns.Labels["pod-security.kubernetes.io/enforce"])
	}
	for obj, got := range m.namespaced {
		if got != "herald" {
			t.Errorf("%s in namespace %q, want herald", obj, got)
		}
	}
	for _, p := range m.pods() {
		if img := p.spec.Containers[0].Image; img != "ghcr.io/heraldhq/herald:0.1.0" {
			t.Errorf("%s: image %s, want the overlay's pinned tag", p.where, img)
		}
	}
	// The overlay's settings are merged into the base's, not instead.
	cfg := m.config(t).Data
	for k, want := range map[string]string{"HERALD_BOUNCE_DOMAIN": "bounce.example.no", "HERALD_BOUNCE_LISTEN": ":2525", "HERALD_LOG_FORMAT": "json"} {
		if cfg[k] != want {
			t.Errorf("%s=%q, want %q", k, cfg[k], want)
		}
	}
	if s := m.services["herald-bounce-receiver"]; s == nil || s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("the bounce receiver is not on a LoadBalancer for the MX record")
	}
	if len(m.hpas) != 1 || len(m.deployments) != 3 {
		t.Errorf("overlay has %d autoscalers and Deployments %v", len(m.hpas), keys(m.deployments))
	}
}

func TestKubernetesKEDA(t *testing.T) {
	m := render(t, "k8s/optional/keda")
	if len(m.hpas) != 0 {
		t.Errorf("KEDA creates its own autoscaler, but the base's is still there: %v", keys(m.hpas))
	}
	so := m.scaledObjects["herald-worker"]
	if so == nil {
		t.Fatal("no ScaledObject herald-worker")
	}
	if so.APIVersion != "keda.sh/v1alpha1" {
		t.Errorf("ScaledObject apiVersion %q", so.APIVersion)
	}
	if m.deployments[so.Spec.ScaleTargetRef.Name] == nil {
		t.Errorf("ScaledObject targets %q, not a Deployment here", so.Spec.ScaleTargetRef.Name)
	}
	if len(so.Spec.Triggers) == 0 {
		t.Fatal("ScaledObject has no trigger")
	}
	for _, tr := range so.Spec.Triggers {
		if tr.Type != "prometheus" || !strings.Contains(tr.Metadata["query"], "herald_deliveries") || tr.Metadata["threshold"] == "" || tr.Metadata["serverAddress"] == "" {
			t.Errorf("trigger %+v: want a Prometheus query of herald_deliveries with a threshold", tr)
		}
	}
}

// TestKubernetesSecretExample checks the example Secret against the keys
// the manifests use: every secretKeyRef and every *_FILE file.
func TestKubernetesSecretExample(t *testing.T) {
	b := readFile(t, "k8s/secret.example.yaml")
	kubeconform(t, "k8s/secret.example.yaml", b)
	var s corev1.Secret
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		t.Fatalf("secret.example.yaml: %v", err)
	}
	m := render(t, "k8s/base")
	want := map[string]bool{}
	for k, v := range m.config(t).Data {
		if strings.HasSuffix(k, "_FILE") {
			want[path.Base(v)] = true
		}
	}
	for _, p := range m.pods() {
		for _, e := range p.spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				want[e.ValueFrom.SecretKeyRef.Key] = true
			}
		}
	}
	if s.Name != "herald" {
		t.Errorf("example Secret is named %q, the pods read herald", s.Name)
	}
	for k := range want {
		if _, ok := s.StringData[k]; !ok {
			t.Errorf("example Secret lacks %q, which the pods read", k)
		}
	}
	for k := range s.StringData {
		if !want[k] {
			t.Errorf("example Secret has %q, which no pod reads", k)
		}
	}
	// Not applied by the base: a placeholder secret must never reach a cluster.
	if bytes.Contains(m.raw, []byte("kind: Secret")) {
		t.Error("the base renders a Secret: create it outside the manifests")
	}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
