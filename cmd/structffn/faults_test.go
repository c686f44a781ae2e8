package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/structffn/structffn/internal/testcorpus"
)

// TestSurvivesRandomKills trains with the built CLI, killing it with SIGKILL at random moments
// (a checkpoint is saved after every step, so many kills land in a save) and starting it again until
// it finishes; the run must then hold every step once, with the losses of an uninterrupted run, and
// no start may have found a partial checkpoint among the saved ones (saves are atomic).
func TestSurvivesRandomKills(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	corpus := testcorpus.Write(t, 7, "a kill can land in any step and in any save of a checkpoint", 40_000)
	const steps = 200
	set := tinyTrainSet + "eval_every=0;log_every=1;checkpoint_every=1;train_steps=200;corpus=file:" + corpus
	train := func(out string) *exec.Cmd {
		return exec.Command(bin, "train", "-backend", "go", "-out", out, "-set", set, "-cache", filepath.Join(dir, "cache"))
	}
	straight := filepath.Join(dir, "straight")
	if out, err := train(straight).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	killed := filepath.Join(dir, "killed")
	rng := rand.New(rand.NewPCG(17, 17))
	kills, inSaves := 0, 0
	for attempt := 0; ; attempt++ {
		if attempt == 200 {
			t.Fatalf("not finished after %d starts (%d kills)", attempt, kills)
		}
		cmd := train(killed)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("start %d (after %d kills) failed by itself: %v\n%s", attempt, kills, err, out.String())
			}
		case <-time.After(time.Duration(300+rng.IntN(1500)) * time.Millisecond):
			_ = cmd.Process.Kill()
			<-done
			kills++
			if inSave(t, filepath.Join(killed, "checkpoints")) {
				inSaves++
			}
			continue
		}
		break
	}
	if kills < 5 {
		t.Logf("only %d kills landed before the run finished", kills)
	}
	want, got := metricsOf(t, straight), metricsOf(t, killed)
	if len(got) != steps || len(want) != steps {
		t.Fatalf("%d records after %d kills (uninterrupted: %d), want %d", len(got), kills, len(want), steps)
	}
	for i := range got {
		if got[i].Step != int64(i+1) || got[i].TrainLoss != want[i].TrainLoss {
			t.Errorf("record %d: step %d loss %.7f, uninterrupted step %d loss %.7f", i, got[i].Step, got[i].TrainLoss, want[i].Step, want[i].TrainLoss)
		}
	}
	if skipped, _ := filepath.Glob(filepath.Join(killed, "checkpoints", "unreadable", "*")); len(skipped) > 0 {
		t.Errorf("partial checkpoints reached the checkpoints directory: %v", skipped)
	}
	t.Logf("%d kills (%d of them in a checkpoint save), then the run finished with the uninterrupted run's %d losses",
		kills, inSaves, steps)
}

// inSave reports whether the staging directory of the checkpoints directory dir holds a save in
// progress: a file that is not a checkpoint of dir (those are linked there on start).
func inSave(t *testing.T, dir string) bool {
	t.Helper()
	staged, _ := os.ReadDir(filepath.Join(dir, ".saving"))
	for _, e := range staged {
		if _, err := os.Stat(filepath.Join(dir, e.Name())); os.IsNotExist(err) {
			return true
		}
	}
	return false
}

type stepLoss struct {
	Step      int64   `json:"step"`
	TrainLoss float64 `json:"train_loss"`
}

func metricsOf(t *testing.T, dir string) []stepLoss {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []stepLoss
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r stepLoss
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: line %q: %v", dir, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}
