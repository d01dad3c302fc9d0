package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The parts of the Kubernetes objects the example's consistency rests on.
type (
	k8sObject struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Metadata   struct {
			Name   string
			Labels map[string]string
		}
		Data      map[string]string // ConfigMap
		Resources []string          // Kustomization
		Spec      struct {
			Replicas    *int // Deployment
			Strategy    struct{ Type string }
			Selector    yaml.Node // Deployment: matchLabels; Service: the labels
			Template    podTemplate
			AccessModes []string `yaml:"accessModes"` // PVC
			Ports       []struct {
				Name       string
				Port       int
				TargetPort string `yaml:"targetPort"`
			} // Service
		}
	}
	podTemplate struct {
		Metadata struct{ Labels map[string]string }
		Spec     struct {
			SecurityContext struct {
				RunAsNonRoot *bool `yaml:"runAsNonRoot"`
				RunAsUser    int   `yaml:"runAsUser"`
			} `yaml:"securityContext"`
			Containers []container
			Volumes    []struct {
				Name                  string
				PersistentVolumeClaim *struct {
					ClaimName string `yaml:"claimName"`
				} `yaml:"persistentVolumeClaim"`
				ConfigMap *struct{ Name string } `yaml:"configMap"`
				EmptyDir  *struct{}              `yaml:"emptyDir"`
			}
		}
	}
	container struct {
		Name    string
		Command []string
		Args    []string
		Ports   []struct {
			Name          string
			ContainerPort int `yaml:"containerPort"`
		}
		LivenessProbe  probe `yaml:"livenessProbe"`
		ReadinessProbe probe `yaml:"readinessProbe"`
		VolumeMounts   []struct {
			Name      string
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
		} `yaml:"volumeMounts"`
		SecurityContext struct {
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		} `yaml:"securityContext"`
	}
	probe struct {
		HTTPGet struct {
			Path string
			Port string
		} `yaml:"httpGet"`
	}
)

// manifests parses every YAML document of every file in deploy/kubernetes
// by kind/name. Fields the types above do not name are ignored (the objects
// have many more); a document that is not YAML, or has no kind, fails.
func manifests(t *testing.T) map[string]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]k8sObject{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 1; ; i++ {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "%s: document %d", f, i)
			require.NotEmpty(t, o.Kind, "%s: document %d has no kind", f, i)
			require.NotEmpty(t, o.APIVersion, "%s: document %d has no apiVersion", f, i)
			key := o.Kind + "/" + o.Metadata.Name
			_, dup := out[key]
			require.False(t, dup, "%s: %s defined twice", f, key)
			out[key] = o
		}
	}
	return out
}

// flagValue returns the value after --name in args.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("serve args %v have no %s", args, name)
	return ""
}

// TestKubernetesExample checks that the example's objects fit together:
// one Recreate replica, the probes on the public port, the PVC mounted at
// --data, the rules ConfigMap mounted as a directory holding the --rules
// file, a non-root read-only container, the Service on the public port,
// and every file listed in kustomization.yaml.
func TestKubernetesExample(t *testing.T) {
	objs := manifests(t)
	get := func(key string) k8sObject {
		o, ok := objs[key]
		require.True(t, ok, "deploy/kubernetes has no %s", key)
		return o
	}
	dep := get("Deployment/switchboard")
	svc := get("Service/switchboard")
	pvc := get("PersistentVolumeClaim/switchboard-data")
	cm := get("ConfigMap/switchboard-rules")
	kust := get("Kustomization/")

	files, _ := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	var listed []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			listed = append(listed, b)
		}
	}
	require.ElementsMatch(t, listed, kust.Resources, "kustomization.yaml lists every manifest")

	require.NotNil(t, dep.Spec.Replicas)
	require.Equal(t, 1, *dep.Spec.Replicas, "SQLite has one writer: one replica")
	require.Equal(t, "Recreate", dep.Spec.Strategy.Type, "a rolling update would run two writers")
	pod := dep.Spec.Template
	require.True(t, pod.Spec.SecurityContext.RunAsNonRoot != nil && *pod.Spec.SecurityContext.RunAsNonRoot, "runAsNonRoot")
	require.Equal(t, 65532, pod.Spec.SecurityContext.RunAsUser, "the image's user")
	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	require.True(t, c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	require.True(t, c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false")
	require.Equal(t, []string{"/usr/local/bin/switchboard"}, c.Command, "the image's binary")
	require.Equal(t, "serve", c.Args[0])

	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	require.Equal(t, map[string]int{"http": 8080, "admin": 9090}, ports)
	require.Equal(t, ":8080", flagValue(t, c.Args, "--addr"))
	require.Equal(t, ":9090", flagValue(t, c.Args, "--admin-addr"))
	for _, tc := range []struct {
		name string
		p    probe
		path string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		require.Equal(t, tc.path, tc.p.HTTPGet.Path, "%s probe", tc.name)
		require.Equal(t, "http", tc.p.HTTPGet.Port, "%s probe: the public port serves the probes", tc.name)
	}

	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		require.Empty(t, m.SubPath, "volume %s: a subPath mount never sees ConfigMap updates", m.Name)
		mounts[m.Name] = m.MountPath
	}
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = true
		switch {
		case v.PersistentVolumeClaim != nil:
			require.Equal(t, pvc.Metadata.Name, v.PersistentVolumeClaim.ClaimName)
			require.Equal(t, flagValue(t, c.Args, "--data"), mounts[v.Name], "the PVC is mounted at --data")
		case v.ConfigMap != nil:
			require.Equal(t, cm.Metadata.Name, v.ConfigMap.Name)
			rules := flagValue(t, c.Args, "--rules")
			require.Equal(t, mounts[v.Name], path.Dir(rules), "the rules ConfigMap is mounted at --rules' directory")
			require.Contains(t, cm.Data, path.Base(rules), "the ConfigMap has the key --rules names")
		}
	}
	for name := range mounts {
		require.True(t, volumes[name], "mount of an undefined volume %s", name)
	}
	require.Equal(t, "/tmp", mounts["tmp"], "a writable /tmp under a read-only root")
	require.Equal(t, []string{"ReadWriteOnce"}, pvc.Spec.AccessModes)

	var sel map[string]string
	require.NoError(t, svc.Spec.Selector.Decode(&sel))
	require.NotEmpty(t, sel, "the Service selects the pod")
	for k, v := range sel {
		require.Equal(t, v, pod.Metadata.Labels[k], "Service selector %s", k)
	}
	require.Len(t, svc.Spec.Ports, 1, "the Service exposes the public port only")
	require.Equal(t, "http", svc.Spec.Ports[0].TargetPort)

	// The example's rules load (switchboard check).
	for key, src := range cm.Data {
		f := filepath.Join(t.TempDir(), key)
		require.NoError(t, os.WriteFile(f, []byte(src), 0o644))
		out, err := exec.Command(switchboard(t), "check", f).CombinedOutput()
		require.NoError(t, err, "configmap.yaml %s does not load:\n%s", key, out)
		require.True(t, strings.HasPrefix(string(out), "ok: "), "%s", out)
	}
}
