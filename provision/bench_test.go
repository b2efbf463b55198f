package provision_test

import (
	"context"
	"testing"
)

// BenchmarkNoopApply is hadeploy's own work for a no-op apply of the 4-host
// lab cluster against in-memory hosts: snapshot parsing, planning every
// step, diffing, lock and release, events — everything but SSH and the
// hosts. `go test ./provision -bench NoopApply -benchmem`.
func BenchmarkNoopApply(b *testing.B) {
	fc := appliedCluster(b)
	b.ResetTimer()
	for b.Loop() {
		sum, err := fc.runner("R2").Apply(context.Background())
		if err != nil || sum.Changes != 0 {
			b.Fatalf("no-op apply: %v, %d changes", err, sum.Changes)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4/1e6, "ms/host")
}
