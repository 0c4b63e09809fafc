package release

import (
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// Devel is the Version of a build that was not given one: an unsigned
// development build.
const Devel = "devel"

// Version is the version this binary was built as: "devel" unless set at
// link time with -ldflags "-X github.com/stskms/stskms/release.Version=vX.Y.Z".
var Version = Devel

// Build is what a binary knows of its own build.
type Build struct {
	// Version is Version.
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, or "unknown"
	// (a build with -buildvcs=false, or outside a repository).
	Commit string `json:"commit"`
	// Modified reports uncommitted changes in the tree built (false when
	// Commit is unknown).
	Modified bool `json:"modified"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Path is the main package's import path.
	Path string `json:"path"`
	// Settings are the build settings (-trimpath, -ldflags, CGO_ENABLED,
	// GOOS, GOARCH, …) in the order the toolchain recorded them.
	Settings []Setting `json:"settings"`
	// Modules are the modules linked in, with their versions and sums.
	Modules []Module `json:"modules"`
}

// Setting is one build setting.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Module is one module linked into the binary.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
	// Replace is the module's replacement ("" if none).
	Replace string `json:"replace,omitempty"`
}

// Unknown is the Commit of a build without VCS information.
const Unknown = "unknown"

// Read returns the running binary's build information. A binary built
// without module support (never stskms) reports only Version and
// GoVersion.
func Read() Build {
	b := Build{Version: Version, Commit: Unknown, GoVersion: runtime.Version(), Settings: []Setting{}, Modules: []Module{}}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion, b.Path = info.GoVersion, info.Path
	for _, s := range info.Settings {
		b.Settings = append(b.Settings, Setting{Key: s.Key, Value: s.Value})
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	for _, m := range info.Deps {
		mod := Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
		if m.Replace != nil {
			mod.Replace = m.Replace.Path + " " + m.Replace.Version
		}
		b.Modules = append(b.Modules, mod)
	}
	slices.SortFunc(b.Modules, func(x, y Module) int { return strings.Compare(x.Path, y.Path) })
	return b
}
