package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// parseFlags parses a command's flags (see parseFlags). When the
// completion scripts are being written, it hands the command's flag set
// over instead and stops the command, as -h would, so that the scripts
// offer exactly the flags each command defines.
func (c *cli) parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	if c.collectFlags != nil {
		c.collectFlags(fs)
		return nil, flag.ErrHelp
	}
	return parseFlags(fs, args)
}

// compFlag is one flag as the completion scripts offer it.
type compFlag struct {
	name, usage string
	takesValue  bool
	files       bool // its value is a file or folder
}

// compCommand is one command (or ferry key subcommand) as the completion
// scripts offer it.
type compCommand struct {
	name    string // "send", or "key export"
	names   []string
	summary string
	flags   []compFlag
	files   bool     // takes file arguments
	words   []string // or one of these words
	sub     []compCommand
}

// completionTree runs every command in flag-collecting mode and returns
// what each defines.
func (c *cli) completionTree(ctx context.Context) []compCommand {
	var walk func(cmds []command, prefix string) []compCommand
	walk = func(cmds []command, prefix string) []compCommand {
		var out []compCommand
		for _, cmd := range cmds {
			cc := compCommand{name: prefix + cmd.name, names: append([]string{cmd.name}, cmd.aliases...), summary: cmd.summary}
			if cmd.sub != nil {
				cc.sub = walk(cmd.sub, cc.name+" ")
			} else if cmd.name == "completion" {
				cc.words = completionShells()
			} else {
				if fs := c.flagSetOf(ctx, strings.Fields(cc.name)); fs != nil {
					cc.flags = flagsOf(fs)
				}
				cc.files = takesFiles(cc.name)
			}
			out = append(out, cc)
		}
		return out
	}
	return walk(c.commands(), "")
}

// flagSetOf runs the command at path ("key", "export") on a copy of c
// that writes nowhere and stops at its flag parsing, and returns the flag
// set the command defined.
func (c *cli) flagSetOf(ctx context.Context, path []string) *flag.FlagSet {
	probe := *c
	probe.stdout, probe.stderr = io.Discard, io.Discard
	var fs *flag.FlagSet
	probe.collectFlags = func(f *flag.FlagSet) {
		if fs == nil {
			fs = f
		}
	}
	probe.run(ctx, path)
	return fs
}

// takesFiles says which commands take file or folder arguments.
func takesFiles(name string) bool {
	switch name {
	case "send", "encrypt", "decrypt", "key import":
		return true
	}
	return false
}

// flagsOf lists a flag set's flags, sorted by name.
func flagsOf(fs *flag.FlagSet) []compFlag {
	var out []compFlag
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		first, _, _ := strings.Cut(usage, "\n")
		cf := compFlag{name: f.Name, usage: first}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			cf.takesValue = true
			cf.files = arg == "FILE" || arg == "DIR" || arg == "PATH"
		}
		out = append(out, cf)
	})
	slices.SortFunc(out, func(a, b compFlag) int { return strings.Compare(a.name, b.name) })
	return out
}

func (c *cli) completion(ctx context.Context, args []string) int {
	if len(args) != 1 || !slices.Contains(completionShells(), args[0]) {
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(c.stdout, completionUsage)
			return exitOK
		}
		c.errorf("ferry completion takes one shell: bash, zsh or fish")
		fmt.Fprint(c.stderr, completionUsage)
		return exitUsage
	}
	tree := c.completionTree(ctx)
	switch args[0] {
	case "bash":
		writeBash(c.stdout, tree)
	case "zsh":
		writeZsh(c.stdout, tree)
	case "fish":
		writeFish(c.stdout, tree)
	}
	return exitOK
}

// completionShells are the shells ferry completion writes for.
func completionShells() []string { return []string{"bash", "zsh", "fish"} }

const completionUsage = `Usage: ferry completion bash|zsh|fish

Prints a script that completes ferry's commands and flags in that shell:
  bash:  source <(ferry completion bash)          (in ~/.bashrc)
  zsh:   source <(ferry completion zsh)           (in ~/.zshrc, after compinit)
  fish:  ferry completion fish | source           (in ~/.config/fish/config.fish)
`
