package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

func (b *bench) scalePhase(ctx context.Context, scale []int) error {
	maxN := slices.Max(scale)
	fits, err := b.ensureInotify(maxN)
	if err != nil {
		b.note("%v", err)
	}
	if fits < maxN {
		var kept []int
		for _, n := range scale {
			if n <= fits {
				kept = append(kept, n)
			}
		}
		b.note("scale: fs.inotify.max_user_instances fits %d lab hosts: measuring %v instead of %v", fits, kept, scale)
		if len(kept) == 0 {
			return nil
		}
		scale, maxN = kept, slices.Max(kept)
	}
	hosts, err := scaleHosts(maxN)
	if err != nil {
		return err
	}
	inv := filepath.Join(b.tmp, fmt.Sprintf("scale-%d.yaml", maxN))
	if err := os.WriteFile(inv, []byte(scaleInventory(hosts)), 0o644); err != nil {
		return err
	}
	if err := b.labUp(ctx, scaleSpec(hosts)); err != nil {
		return err
	}
	row, err := b.measure(ctx, "cold apply", 1, 0, "apply", inv)
	if err != nil {
		return err
	}
	row.Note = "scale cluster (web hosts + 2 lb), lab hosts booted fresh"
	for _, n := range slices.Sorted(slices.Values(scale)) {
		args := []string{inv}
		note := fmt.Sprintf("%d web + 2 lb", n-2)
		if n < maxN {
			args = append(args, "--limit", limitFor(hosts, n))
			note += fmt.Sprintf(" (--limit on the %d-host cluster)", maxN)
		}
		for _, op := range []string{"plan", "apply"} {
			r, err := b.measure(ctx, "no-op "+op, b.reps, 0, append([]string{op}, args...)...)
			if err != nil {
				return err
			}
			r.Note = note
		}
	}
	return nil
}
