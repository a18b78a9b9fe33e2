package testbed

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RunImage makes the Node's kubelet run, for real, each pod whose one
// container has image: bin (a binary built for the test) with the
// container's command after its first word, then its args; an argument
// that is a volume mount's path, or under one, is given as the mounted
// folder on the host (the PV's folder for a local PVC). The pod's output
// is its container log, which the API server's pods/log reads from the
// Node (see serveLogs). Read-only mounts are not enforced: the process
// runs as the test does.
func (n *Node) RunImage(image, bin string) {
	k := n.kubelet
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.images == nil {
		k.images = map[string]string{}
	}
	k.images[image] = bin
}

// imageBinary returns the binary RunImage gave pod's image.
func (k *nodeKubelet) imageBinary(pod *corev1.Pod) (string, bool) {
	if len(pod.Spec.Containers) != 1 {
		return "", false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	bin, ok := k.images[pod.Spec.Containers[0].Image]
	return bin, ok
}

// imageArgs is the container's command after its first word, then its
// args, mount paths given as the host folders of vols (volume name ->
// host path, symlinks resolved as a bind mount would).
func imageArgs(pod *corev1.Pod, vols map[string]string) ([]string, error) {
	c := pod.Spec.Containers[0]
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %s has no command: the test bed does not read the image's entrypoint", c.Name)
	}
	args := append(slices.Clone(c.Command[1:]), c.Args...)
	for _, m := range c.VolumeMounts {
		host, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("mount %s names no volume of the pod", m.Name)
		}
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", m.Name, err)
		}
		for i, a := range args {
			if a == m.MountPath {
				args[i] = real
			} else if rest, ok := strings.CutPrefix(a, strings.TrimSuffix(m.MountPath, "/")+"/"); ok {
				args[i] = filepath.Join(real, rest)
			}
		}
	}
	return args, nil
}

// serveLogs serves the kubelet API's /containerLogs/<namespace>/<pod>/<container>
// (a pod's output, PodLogPath) over HTTPS on loopback, and returns its
// port for the Node's status: the API server's pods/log proxies to it. An
// API server given no --kubelet-certificate-authority does not verify the
// kubelet's certificate, so httptest's own serves. What is served is what
// a kubelet's current log file holds: the kubelet rotates a container's
// log once it passes containerLogMaxSize (SetContainerLogMaxSize, 10 MiB by
// default) and pods/log reads only the current file, so of a longer output
// only the lines after the last multiple of the size are served. The
// query (follow, tailLines, limitBytes) is ignored.
func (n *Node) serveLogs(tb TB) int {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		pod := &corev1.Pod{}
		if err := n.cp.Client.Get(r.Context(), client.ObjectKey{Namespace: r.PathValue("namespace"), Name: r.PathValue("pod")}, pod); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == r.PathValue("container") }) {
			http.Error(w, "no container "+r.PathValue("container"), http.StatusNotFound)
			return
		}
		f, err := os.Open(n.PodLogPath(string(pod.UID)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer func() { _ = f.Close() }() // read-only
		cur, err := n.currentLog(f)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		http.ServeContent(w, r, "", pod.CreationTimestamp.Time, cur)
	})
	srv := httptest.NewTLSServer(mux)
	tb.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// DefaultContainerLogMaxSize is the kubelet's default containerLogMaxSize.
const DefaultContainerLogMaxSize = 10 << 20

// SetContainerLogMaxSize sets the size at which the Node's kubelet rotates
// a container's log (serveLogs); 0 means DefaultContainerLogMaxSize.
func (n *Node) SetContainerLogMaxSize(size int64) {
	k := n.kubelet
	k.mu.Lock()
	defer k.mu.Unlock()
	k.logMaxSize = size
}

// currentLog is the part of the log f that the current file of a log
// rotated every containerLogMaxSize bytes holds: from the first line that
// starts at or after the last multiple of the size.
func (n *Node) currentLog(f *os.File) (io.ReadSeeker, error) {
	k := n.kubelet
	k.mu.Lock()
	max := cmp.Or(k.logMaxSize, DefaultContainerLogMaxSize)
	k.mu.Unlock()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size <= max {
		return f, nil
	}
	start := (size - 1) / max * max
	if start > 0 { // a rotation happens after a whole line
		br := bufio.NewReader(io.NewSectionReader(f, start-1, size-start+1))
		line, err := br.ReadString('\n')
		if err != nil {
			return io.NewSectionReader(f, size, 0), nil //nolint:nilerr // no line starts after it: the current file is empty
		}
		start += int64(len(line)) - 1
	}
	return io.NewSectionReader(f, start, size-start), nil
}
