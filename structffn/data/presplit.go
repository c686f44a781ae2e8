package data

import (
	"unicode"
	"unicode/utf8"
)

// preSplit calls yield with each piece of text as cut by GPT-2's pre-tokenisation regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// (Radford et al. 2019, encoder.py). Go's regexp has no lookahead, so this is a hand-written scanner
// that tries the alternatives in order at each position, as the regex engine does. The pieces
// partition text exactly: invalid UTF-8 bytes count as "other" characters, so concatenating the
// pieces always gives text back. BPE merges never cross piece boundaries.
func preSplit(text []byte, yield func(piece []byte)) {
	for i := 0; i < len(text); {
		n := matchAt(text, i)
		yield(text[i : i+n])
		i += n
	}
}

// charClass is the class of a rune as the GPT-2 pattern sees it.
type charClass uint8

const (
	classOther charClass = iota
	classSpace
	classLetter
	classNumber
)

// classAt returns the class and byte width of the rune starting at text[i].
func classAt(text []byte, i int) (charClass, int) {
	if c := text[i]; c < utf8.RuneSelf {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			return classSpace, 1
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			return classLetter, 1
		case '0' <= c && c <= '9':
			return classNumber, 1
		default:
			return classOther, 1
		}
	}
	r, w := utf8.DecodeRune(text[i:])
	switch {
	case r == utf8.RuneError && w <= 1:
		return classOther, 1
	case unicode.IsSpace(r):
		return classSpace, w
	case unicode.IsLetter(r):
		return classLetter, w
	case unicode.IsNumber(r):
		return classNumber, w
	}
	return classOther, w
}

// runOf returns the byte length of the run of class cl starting at text[i].
func runOf(text []byte, i int, cl charClass) int {
	j := i
	for j < len(text) {
		c, w := classAt(text, j)
		if c != cl {
			break
		}
		j += w
	}
	return j - i
}

// matchAt returns the length (> 0) of the GPT-2 pattern's match at text[i].
func matchAt(text []byte, i int) int {
	// 's|'t|'re|'ve|'m|'ll|'d
	if text[i] == '\'' && i+1 < len(text) {
		switch text[i+1] {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if i+2 < len(text) && text[i+2] == 'e' {
				return 3
			}
		case 'l':
			if i+2 < len(text) && text[i+2] == 'l' {
				return 3
			}
		}
	}
	// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a run of one class.
	start := i
	if text[i] == ' ' && i+1 < len(text) {
		start = i + 1
	}
	if cl, _ := classAt(text, start); cl != classSpace {
		return start - i + runOf(text, start, cl)
	}
	// `\s+(?!\S)` then `\s+`. Here text[i] is whitespace (a lone space with no non-space after it
	// also lands here). A whitespace run followed by a non-space gives back its last character so
	// that the next piece can start with it (" word"); a run of one is taken whole.
	n := runOf(text, i, classSpace)
	if i+n == len(text) {
		return n
	}
	_, lastW := lastRune(text[i : i+n])
	if n > lastW {
		return n - lastW
	}
	return n
}

// lastRune returns the last rune of b and its width.
func lastRune(b []byte) (rune, int) {
	return utf8.DecodeLastRune(b)
}
