package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// layout says where the processes of one measurement run. With cores 1
// the service under test (switchboard and the baseline) runs under
// `taskset -c serverCPUs` and the load generator, with its sink, re-execs
// itself under `taskset -c loadCPUs`: a Go process started on one CPU sees
// GOMAXPROCS=1, as in a 1-CPU container. With cores 2 nothing is pinned
// and everything shares the machine's cores.
type layout struct {
	Cores      int    `json:"cores"`
	ServerCPUs string `json:"server_cpus"` // "" means unpinned
	LoadCPUs   string `json:"load_cpus"`   // "" means unpinned
	// Unpinned is set when pinning was asked for but taskset is missing.
	Unpinned bool `json:"unpinned"`
}

// name is the layout's label in reports.
func (l layout) name() string {
	switch {
	case l.Unpinned:
		return fmt.Sprintf("%d core (NOT pinned: no taskset)", l.Cores)
	case l.ServerCPUs == "" && l.LoadCPUs == "":
		return fmt.Sprintf("%d cores, unpinned", l.Cores)
	default:
		return fmt.Sprintf("%d core (server cpu %s, load cpu %s)", l.Cores, l.ServerCPUs, l.LoadCPUs)
	}
}

// makeLayouts turns the -cores list into layouts. Only 1 and 2 are known:
// 1 pins the server to serverCPUs and the load to loadCPUs, 2 pins nothing.
// Without taskset a 1-core layout is reported and run unpinned.
func makeLayouts(cores []int, serverCPUs, loadCPUs string, haveTaskset bool) ([]layout, error) {
	var out []layout
	for _, c := range cores {
		switch c {
		case 1:
			if haveTaskset {
				out = append(out, layout{Cores: 1, ServerCPUs: serverCPUs, LoadCPUs: loadCPUs})
			} else {
				out = append(out, layout{Cores: 1, Unpinned: true})
			}
		case 2:
			out = append(out, layout{Cores: 2})
		default:
			return nil, fmt.Errorf("-cores: %d is not a known layout (1: server pinned on -server-cpus, load on -load-cpus; 2: both unpinned)", c)
		}
	}
	return out, nil
}

// findTaskset returns taskset's path, or "" when it is not installed
// (util-linux), then with a warning on stderr if warn is set.
func findTaskset(warn bool) string {
	p, err := exec.LookPath("taskset")
	if err != nil {
		if !warn {
			return ""
		}
		fmt.Fprintln(os.Stderr, "loadgen: WARNING: taskset not found (install util-linux); "+
			"the 1-core layout runs UNPINNED and its figures are not a 1-core measurement")
		return ""
	}
	return p
}

// checkCPUs makes sure taskset accepts a CPU list on this machine, so that
// a typo fails before any phase runs.
func checkCPUs(taskset, cpus string) error {
	out, err := exec.Command(taskset, "-c", cpus, "true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -c %s: %v: %s", cpus, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pinnedCommand returns a command running name under `taskset -c cpus`,
// or directly when cpus is "" (unpinned). taskset execs name, so the
// command's pid is name's pid. GOMAXPROCS is removed from the child's
// environment, so that its Go runtime derives it from the CPUs it may use.
// The child is killed if loadgen dies.
func pinnedCommand(cpus, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if cpus == "" {
		cmd = exec.Command(name, args...)
	} else {
		cmd = exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// allowedCPUs is the CPU list a process may run on (Cpus_allowed_list).
func allowedCPUs(pid int) string {
	if s := procStatus(pid, "Cpus_allowed_list"); s != "" {
		return s
	}
	return "?"
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-%s: %q is not a positive integer", flagName, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: empty list", flagName)
	}
	return out, nil
}
