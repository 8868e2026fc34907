package server

import (
	"fmt"
	"slices"
	"strings"
)

// List is one page of a short list (organisations, campaigns, alerts,
// tokens, playbooks): its items in key order and, when more follow, the
// key to ask for the next page after.
type List[T any] struct {
	Items []T `json:"items"`
	// Next is the cursor of the next page (after=), "" on the last.
	Next string `json:"next"`
}

// Page sizes of the short lists: the default shows a whole estate's
// organisations at once.
const (
	defaultListPage = 500
	maxListPage     = 1000
)

// limitParam checks a limit query parameter against max, giving def
// when it is absent (0).
func limitParam(limit, def, max int) (int, error) {
	switch {
	case limit == 0:
		return def, nil
	case limit < 0 || limit > max:
		return 0, &BadRequestError{Where: "query parameter limit", Err: fmt.Errorf("%d: want 1 to %d", limit, max)}
	}
	return limit, nil
}

// pageOf is the page of all (in any order) after the key after, by key,
// at most limit (0: the default) long, with the key of its last item as
// next when more follow.
func pageOf[T any](all []T, after string, limit int, key func(T) string) ([]T, string, error) {
	limit, err := limitParam(limit, defaultListPage, maxListPage)
	if err != nil {
		return nil, "", err
	}
	sorted := slices.SortedFunc(slices.Values(all), func(a, b T) int { return strings.Compare(key(a), key(b)) })
	// The first item whose key is after the cursor.
	i := 0
	if after != "" {
		i, _ = slices.BinarySearchFunc(sorted, after, func(t T, k string) int {
			if key(t) <= k {
				return -1
			}
			return 1
		})
	}
	page := sorted[i:]
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = key(page[limit-1])
	}
	return slices.Clip(page), next, nil
}

// listOf is the List page of all after the cursor after (see pageOf).
func listOf[T any](all []T, after string, limit int, key func(T) string) (List[T], error) {
	page, next, err := pageOf(all, after, limit, key)
	if err != nil {
		return List[T]{}, err
	}
	return List[T]{Items: nonNil(page), Next: next}, nil
}
