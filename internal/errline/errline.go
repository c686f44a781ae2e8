// Package errline shortens errors to one line: GoMLX errors may carry a stack trace after the
// message, and this project's errors are one line naming the problem and the fix.
package errline

import (
	"strings"
)

// First is err's message up to its first newline.
func First(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
