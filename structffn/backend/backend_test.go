package backend

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	autoWant := "go:ops_sequential,dotgeneral_large"
	if xlaAvailable("cuda") {
		autoWant = "xla:cuda"
	} else if xlaAvailable("cpu") {
		autoWant = "xla:cpu"
	}
	for _, c := range []struct {
		name, env, want, err string
	}{
		{"go", "", "go:ops_sequential,dotgeneral_large", ""},
		{"go:parallelism=4", "", "go:parallelism=4,ops_sequential,dotgeneral_large", ""},
		{"go:ops_parallel", "", "go:ops_parallel,dotgeneral_large", ""},
		{"go:dotgeneral_small", "", "go:dotgeneral_small,ops_sequential", ""},
		{"go:dotgeneral_check", "", "go:dotgeneral_check,ops_sequential", ""},
		{"xla:cpu", "", "xla:cpu", ""},
		{"xla", "", "xla:cpu", ""},
		{"xla:cuda", "", "xla:cuda", ""},
		{"", "go", "go:ops_sequential,dotgeneral_large", ""},
		{"", "", autoWant, ""},
		{"auto", "", autoWant, ""},
		{"tpu", "", "", `unknown backend "tpu": allowed values are auto, go, xla:cpu, xla:cuda`},
	} {
		t.Run(c.name+"/"+c.env, func(t *testing.T) {
			t.Setenv(EnvVar, c.env)
			got, err := Resolve(c.name)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Resolve(%q) error = %v, want %q", c.name, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", c.name, got, err, c.want)
			}
		})
	}
}

func TestNewGo(t *testing.T) {
	b, config, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if !strings.HasPrefix(config, "go:") || b.Name() == "" {
		t.Fatalf("New(go) = %q (%s)", config, b.Name())
	}
}

func TestHostDevices(t *testing.T) {
	for _, c := range []struct {
		flags string
		want  int
		err   string
	}{
		{"", 0, ""},
		{"--xla_cpu_enable_fast_math=false", 0, ""},
		{"--xla_force_host_platform_device_count=3", 3, ""},
		{"--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=8", 8, ""},
		{"--xla_force_host_platform_device_count=0", 0, "want a positive number of host devices"},
		{"--xla_force_host_platform_device_count=two", 0, "want a positive number of host devices"},
		{"--xla_force_host_platform_device_count=2x", 0, "want a positive number of host devices"},
	} {
		got, err := HostDevices(c.flags)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("HostDevices(%q) error = %v, want %q", c.flags, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("HostDevices(%q) = %d, %v; want %d", c.flags, got, err, c.want)
		}
	}
}

func TestCUDAFlags(t *testing.T) {
	def := "--xla_gpu_autotune_level=0 --xla_gpu_enable_triton_gemm=false"
	for _, c := range []struct {
		in, want string
		added    bool
	}{
		{"", def, true},
		{"--xla_gpu_cuda_data_dir=/usr/local/cuda", "--xla_gpu_cuda_data_dir=/usr/local/cuda " + def, true},
		{"  --xla_dump_to=/tmp/d  ", "--xla_dump_to=/tmp/d " + def, true},
		// The user's choice of either flag stands, for both.
		{"--xla_gpu_autotune_level=4", "--xla_gpu_autotune_level=4", false},
		{"--xla_dump_to=/x --xla_gpu_enable_triton_gemm=true", "--xla_dump_to=/x --xla_gpu_enable_triton_gemm=true", false},
		// A flag whose name only starts like ours is another flag.
		{"--xla_gpu_autotune_level_max=2", "--xla_gpu_autotune_level_max=2 " + def, true},
	} {
		got, added := CUDAFlags(c.in)
		if got != c.want || (len(added) > 0) != c.added {
			t.Errorf("CUDAFlags(%q) = %q, %v; want %q, added %v", c.in, got, added, c.want, c.added)
		}
	}
}

// TestXLACPUHostDevices: XLA_FLAGS' host device count reaches the CPU plugin (which ignores the flag
// itself and has 4 devices by default), and other backends are unaffected.
func TestXLACPUHostDevices(t *testing.T) {
	if !xlaAvailable("cpu") {
		if os.Getenv("STRUCTFFN_REQUIRE_XLA") == "1" {
			t.Fatal("STRUCTFFN_REQUIRE_XLA=1 but the XLA CPU plugin is not installed")
		}
		t.Skip("no XLA CPU plugin (kernel/install-xla-cpu.sh)")
	}
	for _, n := range []int{1, 3} {
		t.Setenv("XLA_FLAGS", fmt.Sprintf("%s=%d", HostDevicesFlag, n))
		b, _, err := New("xla:cpu")
		if err != nil {
			t.Fatal(err)
		}
		if got := b.NumDevices(); got != n {
			t.Errorf("XLA_FLAGS=%s: xla:cpu has %d devices, want %d", os.Getenv("XLA_FLAGS"), got, n)
		}
		b.Finalize()
		g, _, err := New("go")
		if err != nil {
			t.Fatal(err)
		}
		if g.NumDevices() != 1 {
			t.Errorf("go backend: %d devices", g.NumDevices())
		}
		g.Finalize()
	}
	t.Setenv("XLA_FLAGS", HostDevicesFlag+"=none")
	if _, _, err := New("xla:cpu"); err == nil || !strings.Contains(err.Error(), "want a positive number") {
		t.Errorf("a bad XLA_FLAGS: %v", err)
	}
}
