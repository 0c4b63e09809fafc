package tangle

// T is a type of this file.
type T struct{ n int }

// B uses T's field n and d, all of this file: no reference.
func B() string { return string(rune('a'+T{n: 1}.n)) + d }

// d is used in c.go.
var d = "d"

// E uses A (a.go): a.go and b.go reference each other.
func E() string { return A() }
