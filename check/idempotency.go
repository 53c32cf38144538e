package check

import "fmt"

// checkResends returns one problem per re-sent increment whose answer
// differs from the first: the Idempotency-Key did not make the retry a
// no-op (a double apply, or a different result). A retry that failed or
// whose outcome is unknown proves nothing either way.
func checkResends(resends []IdemResend) []string {
	var problems []string
	for _, r := range resends {
		if r.Outcome == OK && r.Retry != r.First {
			problems = append(problems, fmt.Sprintf(
				"idempotency: increment of %s/%s with Idempotency-Key %s answered %d, its retry at %v answered %d (must repeat the first answer)",
				r.Object, r.Key, r.IdemKey, r.First, r.At.Round(1e6), r.Retry))
		}
	}
	return problems
}
