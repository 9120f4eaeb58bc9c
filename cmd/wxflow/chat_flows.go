package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// chatFolder is the folder `wxflow chat` plays, found as `wxflow
// validate` finds flows: a PATH argument (or --flows DIR), by default
// flows. A flow file stands for its folder (its flows play together, as
// serve runs them). A folder with no flows of its own whose subfolders
// have some (validate checks them all) is an error naming them: chat
// plays one folder. The caller refuses more than one argument.
func chatFolder(flowsFlag string, args []string) (dir, note string, err error) {
	dir = flowsFlag
	if len(args) > 0 {
		dir = args[0]
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", "", fmt.Errorf("no such folder: %s", dir)
	}
	if !st.IsDir() {
		if !flows.IsFlowFile(dir) {
			return "", "", fmt.Errorf("%s is not a flow file nor a folder", dir)
		}
		file := dir
		dir = filepath.Dir(dir)
		note = fmt.Sprintf("%s is a flow of %s: its flows play together, as wxflow serve runs them", file, dir)
	}
	if hasFlowFiles(dir) {
		return dir, note, nil
	}
	if subs := flowSubfolders(dir); len(subs) > 0 {
		return "", "", fmt.Errorf("%s has no flows of its own; these folders in it have some (wxflow validate checks them all): %s. Chat with one of them: wxflow chat %s",
			dir, strings.Join(subs, ", "), subs[0])
	}
	return dir, note, nil
}

// hasFlowFiles reports whether dir holds a flow file (not its
// subfolders).
func hasFlowFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && flows.IsFlowFile(e.Name()) {
			return true
		}
	}
	return false
}

// flowSubfolders are the folders under dir that hold flow files, as
// flows.Validate walks them (not testdata, nor names starting with . or
// _).
func flowSubfolders(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == dir {
			return nil
		}
		if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return filepath.SkipDir
		}
		if hasFlowFiles(p) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
