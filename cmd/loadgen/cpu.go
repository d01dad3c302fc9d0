package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat. Linux
// reports them in USER_HZ, which is 100 on every architecture Go supports
// (the kernel scales its internal HZ to it), so it needs no sysconf.
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time (user + system, all threads) a process has
// used so far, from /proc/<pid>/stat. pid 0 means this process.
func procCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The second field (comm) is in parentheses and may contain spaces:
	// count fields from the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	// After ") " come fields 3 (state), 4, ...: utime is field 14 and
	// stime field 15, so indexes 11 and 12 here.
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: too few fields", path)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: bad utime/stime %q %q", path, f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuMeter measures the CPU a process uses between start and stop.
type cpuMeter struct {
	pid   int
	cpu0  time.Duration
	wall0 time.Time
}

// startCPU begins measuring pid (0: this process).
func startCPU(pid int) *cpuMeter {
	c, _ := procCPU(pid)
	return &cpuMeter{pid: pid, cpu0: c, wall0: time.Now()}
}

// stop returns the CPU time used since start and the wall time elapsed.
// A process that cannot be read (it exited) reports -1.
func (m *cpuMeter) stop() (cpu, wall time.Duration) {
	c, err := procCPU(m.pid)
	wall = time.Since(m.wall0)
	if err != nil {
		return -1, wall
	}
	return c - m.cpu0, wall
}

// procStatus reads one field of /proc/<pid>/status (e.g. VmRSS,
// Cpus_allowed_list), or "" if it is absent.
func procStatus(pid int, field string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rssMB reads a memory figure (VmRSS, VmHWM) of a process in MB, or -1.
func rssMB(pid int, field string) float64 {
	f := strings.Fields(procStatus(pid, field))
	if len(f) == 0 {
		return -1
	}
	kb, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return kb / 1024
}

// machineCPU returns the CPU time all processes of the machine have used
// (every state of /proc/stat's cpu line but idle and iowait).
func machineCPU() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected format")
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // guest time is already counted in user
			break
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q", v)
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// machineMeter measures the CPU the whole machine uses between start and
// stop, to tell how much other processes took during a phase.
type machineMeter struct{ cpu0 time.Duration }

func startMachine() machineMeter {
	c, _ := machineCPU()
	return machineMeter{c}
}

// stop returns the machine's CPU since start, or -1 if unreadable.
func (m machineMeter) stop() time.Duration {
	c, err := machineCPU()
	if err != nil || m.cpu0 == 0 {
		return -1
	}
	return c - m.cpu0
}
