package cli

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestDocsMatchHelp checks docs/cli.md against the commands --help
// describes: every command line in its code blocks names a command that
// exists and only flags that command has, and its first block, the
// overview, lists every command.
func TestDocsMatchHelp(t *testing.T) {
	blocks := codeBlocks(t, filepath.Join(testbed.RepoRoot(t), "docs", "cli.md"))
	root := newRoot(Streams{})
	flag := regexp.MustCompile(`(?:^|[\s\[(|])--([a-z][a-z-]*)`)
	listed := map[string]bool{}
	for i, block := range blocks {
		for _, line := range block {
			line = strings.TrimPrefix(line, "$ ")
			if !regexp.MustCompile(`^safekeep [a-z]`).MatchString(line) {
				continue
			}
			words := strings.Fields(strings.SplitN(line, "#", 2)[0])
			cmd, _, err := root.Find(words[1:])
			if err != nil || cmd == root {
				t.Errorf("docs/cli.md: %q names no command (%v)", line, err)
				continue
			}
			if i == 0 {
				listed[cmd.CommandPath()] = true
			}
			for _, m := range flag.FindAllStringSubmatch(line, -1) {
				if cmd.Flags().Lookup(m[1]) == nil && cmd.InheritedFlags().Lookup(m[1]) == nil {
					t.Errorf("docs/cli.md: %q: %s has no flag --%s (see '%s --help')", line, cmd.CommandPath(), m[1], cmd.CommandPath())
				}
			}
		}
	}
	for _, path := range leafCommands(root) {
		if !listed[path] {
			t.Errorf("docs/cli.md: the overview at its top does not list %q", path)
		}
	}
}

// TestReadmeStartsWithTwoCommands: the README's first screen gets a
// newcomer running with exactly two commands, make demo and make test.
func TestReadmeStartsWithTwoCommands(t *testing.T) {
	blocks := codeBlocks(t, filepath.Join(testbed.RepoRoot(t), "README.md"))
	if len(blocks) == 0 {
		t.Fatal("README.md has no code block")
	}
	var cmds []string
	for _, line := range blocks[0] {
		if c := strings.TrimSpace(strings.SplitN(line, "#", 2)[0]); c != "" {
			cmds = append(cmds, c)
		}
	}
	if !slices.Equal(cmds, []string{"make demo", "make test"}) {
		t.Errorf("README.md's first code block runs %q, want exactly make demo and make test", cmds)
	}
}

// codeBlocks returns the lines of each fenced code block of the Markdown
// file at path, in order, with backslash-continued lines joined.
func codeBlocks(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	var cur []string
	in, cont := false, ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```") && in:
			blocks, cur, in = append(blocks, cur), nil, false
		case strings.HasPrefix(line, "```"):
			in = true
		case in && strings.HasSuffix(line, `\`):
			cont += strings.TrimSuffix(line, `\`) + " "
		case in:
			cur, cont = append(cur, cont+line), ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// leafCommands returns the paths of root's commands that run something,
// leaving out help and completion.
func leafCommands(root *cobra.Command) []string {
	var out []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if !c.HasAvailableSubCommands() && c != root {
			out = append(out, c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}
