// Package plural writes counts for people: "1 day", "2 days".
package plural

import "strconv"

// Count is n followed by one when n is 1, else by many: Count(1, "entry",
// "entries") is "1 entry".
func Count[N ~int | ~int32 | ~int64](n N, one, many string) string {
	word := many
	if n == 1 {
		word = one
	}
	return strconv.FormatInt(int64(n), 10) + " " + word
}

// S is Count with the plural formed by adding "s": S(2, "day") is "2 days".
func S[N ~int | ~int32 | ~int64](n N, one string) string {
	return Count(n, one, one+"s")
}
