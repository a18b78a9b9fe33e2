package drill

import (
	"context"
	"fmt"
	"strings"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/volume"
)

// checkVolumes runs Level 1 of the backup's sealed volumes and records
// CheckVolumes.
func (r *runner) checkVolumes(ctx context.Context, res *Result) error {
	if r.opened == nil {
		return nil // the backup did not verify: recorded as not run
	}
	m := r.opened.Manifest
	switch {
	case len(m.Volumes) == 0:
		r.pass(CheckVolumes, "the backup has no sealed volume data")
		return nil
	case r.opts.SkipVolumes:
		r.pass(CheckVolumes, "not requested: "+plural.S(len(m.Volumes), "sealed volume")+" not read")
		return nil
	}
	r.progress.step(Step{Phase: PhaseVolumes, Message: "reading and verifying every file of " + plural.S(len(m.Volumes), "sealed volume")})
	got, err := volume.Verify(ctx, r.opts.Offsite, m, r.opts.Identities, volume.VerifyOptions{Parallelism: r.opts.VolumeParallelism})
	if err != nil {
		return fmt.Errorf("verify volumes: %w", err)
	}
	res.Volumes = got
	*r.checks[CheckVolumes] = VolumesCheck(got)
	return nil
}

// VolumesCheck is CheckVolumes for the Level 1 results of a backup's
// volumes. Its message holds counts and finding kinds only (it goes into
// the audit entry, plaintext in the bucket); its Objects name the failed
// volumes and what is wrong with them, for the drill's status.
func VolumesCheck(got []volume.Verified) audit.CheckResult {
	var files, bytes int64
	var failed []string
	kinds := map[volume.FindingKind]bool{}
	for _, v := range got {
		files, bytes = files+v.Files, bytes+v.Bytes
		if v.OK() {
			continue
		}
		f := v.Findings[0]
		kinds[f.Kind] = true
		failed = append(failed, volume.Name(v.Volume)+": "+f.String())
	}
	counts := fmt.Sprintf("%s, %s verified", plural.S(files, "file"), plural.S(bytes, "byte"))
	if len(failed) == 0 {
		return audit.CheckResult{Name: CheckVolumes, Passed: true,
			Message: fmt.Sprintf("%s: root objects match the manifest; %s", plural.S(len(got), "volume"), counts)}
	}
	var names []string
	for _, k := range []volume.FindingKind{volume.FindingDamaged, volume.FindingRepository, volume.FindingSnapshot, volume.FindingContent, volume.FindingCount} {
		if kinds[k] {
			names = append(names, string(k))
		}
	}
	return audit.CheckResult{Name: CheckVolumes, Objects: firstObjects(failed),
		Message: fmt.Sprintf("%d of %s failed (%s); %s", len(failed), plural.S(len(got), "volume"), strings.Join(names, ", "), counts)}
}
