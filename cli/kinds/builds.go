package kinds

import (
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
)

// Columns of build configs, builds and secrets, in oc's habits.
func init() {
	extras[api.BuildConfigsResource] = Kind{ShortNames: []string{"bc"},
		Columns: []Column{{"TYPE", func(*Object, time.Time) string { return api.BuildStrategySource }}, {"FROM", buildFrom}, {"LATEST", latestBuild}},
		Wide:    []Column{text("OUTPUT", "spec", "output", "to", "name"), text("RUN POLICY", "spec", "runPolicy")}}
	extras[api.BuildsResource] = Kind{
		Columns: []Column{{"TYPE", func(*Object, time.Time) string { return api.BuildStrategySource }}, {"FROM", buildFrom},
			{"STATUS", buildStatus}, {"STARTED", buildStarted}, {"DURATION", buildDuration}},
		Wide: []Column{text("CAUSE", "status", "cause", "type"), text("DIGEST", "status", "outputDigest")}}
	extras[api.SecretsResource] = Kind{
		Columns: []Column{{"TYPE", secretType}, {"DATA", func(o *Object, _ time.Time) string { return strconv.Itoa(len(o.Map("data"))) }}}}
}

// buildFrom is Git, Git@ref, Git@commit (a build's commit) or Binary.
func buildFrom(o *Object, _ time.Time) string {
	if strings.EqualFold(o.String("spec", "source", "type"), api.BuildSourceBinary) {
		return api.BuildSourceBinary
	}
	at := o.String("spec", "source", "git", "ref")
	for _, c := range []string{o.String("status", "revision", "commit"), o.String("spec", "revision", "commit")} {
		if c != "" {
			at = c
			if len(at) > 7 {
				at = at[:7]
			}
			break
		}
	}
	if at == "" {
		return "Git"
	}
	return "Git@" + at
}

func latestBuild(o *Object, _ time.Time) string {
	if n := o.String("status", "lastVersion"); n != "" {
		return n
	}
	return "0"
}

func buildStatus(o *Object, _ time.Time) string {
	phase := o.String("status", "phase")
	if phase == "" {
		phase = api.BuildPhaseNew
	}
	if r := o.String("status", "reason"); r != "" && phase != api.BuildPhaseComplete {
		return phase + " (" + r + ")"
	}
	return phase
}

func buildStarted(o *Object, now time.Time) string {
	t, ok := o.Time("status", "startTimestamp")
	if !ok {
		return ""
	}
	return Age(t, now) + " ago"
}

func buildDuration(o *Object, now time.Time) string {
	if d, err := strconv.ParseInt(o.String("status", "duration"), 10, 64); err == nil && d > 0 {
		return time.Duration(d).Round(time.Second).String()
	}
	if t, ok := o.Time("status", "startTimestamp"); ok && !api.BuildPhaseFinished(o.String("status", "phase")) {
		return now.Sub(t).Round(time.Second).String()
	}
	return ""
}

func secretType(o *Object, _ time.Time) string {
	if t := o.String("type"); t != "" {
		return t
	}
	return api.SecretTypeOpaque
}
