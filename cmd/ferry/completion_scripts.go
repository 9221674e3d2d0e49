package main

import (
	"fmt"
	"io"
	"strings"
)

// The completion scripts of ferry completion, written from the command
// tree (completionTree). Commands, their aliases and flags come from the
// commands themselves; a flag whose value is a FILE, DIR or PATH completes
// file names, other values nothing.

// dashed is a flag as typed: -v for a one-letter name, --name otherwise
// (Go's flag package takes either form).
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// leaves returns the commands that run (ferry key's subcommands in place
// of ferry key).
func leaves(tree []compCommand) []compCommand {
	var out []compCommand
	for _, c := range tree {
		if c.sub != nil {
			out = append(out, leaves(c.sub)...)
		} else {
			out = append(out, c)
		}
	}
	return out
}

// topNames are the words that may follow "ferry".
func topNames(tree []compCommand) []string {
	var out []string
	for _, c := range tree {
		out = append(out, c.names[0])
	}
	return append(out, "version", "help")
}

// patterns are the words that name c in a shell's case: "send", or
// "key export" and its aliases.
func patterns(c compCommand) []string {
	prefix, _, ok := strings.Cut(c.name, " ")
	var out []string
	for _, n := range c.names {
		if ok {
			n = prefix + " " + n
		}
		out = append(out, n)
	}
	return out
}

func writeBash(w io.Writer, tree []compCommand) {
	fmt.Fprintf(w, `# bash completion for ferry: source <(ferry completion bash)
_ferry() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmd=${COMP_WORDS[1]} flags="" valued="" fileflags="" files="" words=""
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W %q -- "$cur"))
		return
	fi
`, strings.Join(topNames(tree), " "))
	for _, c := range tree {
		if c.sub == nil {
			continue
		}
		var subs []string
		for _, s := range c.sub {
			subs = append(subs, s.names[0])
		}
		fmt.Fprintf(w, `	if [[ $cmd == %s ]]; then
		if ((COMP_CWORD == 2)); then
			COMPREPLY=($(compgen -W %q -- "$cur"))
			return
		fi
		cmd="%s ${COMP_WORDS[2]}"
	fi
`, c.names[0], strings.Join(subs, " "), c.names[0])
	}
	fmt.Fprintf(w, "\tcase $cmd in\n")
	for _, c := range leaves(tree) {
		var pats []string
		for _, p := range patterns(c) {
			pats = append(pats, fmt.Sprintf("%q", p))
		}
		var flags, valued, fileflags []string
		for _, f := range c.flags {
			flags = append(flags, dashed(f.name))
			if f.takesValue {
				valued = append(valued, "-"+f.name, "--"+f.name)
			}
			if f.files {
				fileflags = append(fileflags, "-"+f.name, "--"+f.name)
			}
		}
		files := ""
		if c.files {
			files = "1"
		}
		fmt.Fprintf(w, "\t%s) flags=%q valued=%q fileflags=%q files=%q words=%q ;;\n", strings.Join(pats, "|"),
			strings.Join(flags, " "), " "+strings.Join(valued, " ")+" ", " "+strings.Join(fileflags, " ")+" ", files,
			strings.Join(c.words, " "))
	}
	fmt.Fprint(w, `	*) return ;;
	esac
	if [[ $valued == *" $prev "* ]]; then
		[[ $fileflags == *" $prev "* ]] && COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	if [[ -n $words ]]; then
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
	elif [[ -n $files ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -o filenames -o bashdefault -F _ferry ferry
`)
}

// zshQuote puts s in single quotes for zsh.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// zshText is a description inside an _arguments spec's brackets: without
// the brackets and backslashes that would end or escape it.
func zshText(s string) string {
	return strings.NewReplacer("[", "(", "]", ")", "\\", "/").Replace(s)
}

func writeZsh(w io.Writer, tree []compCommand) {
	describe := func(indent string, cmds []compCommand, what string) {
		fmt.Fprintf(w, "%slocal -a cmds=(\n", indent)
		for _, c := range cmds {
			for _, n := range c.names {
				fmt.Fprintf(w, "%s\t%s\n", indent, zshQuote(n+":"+zshText(c.summary)))
			}
		}
		fmt.Fprintf(w, "%s)\n%s_describe -t commands %s cmds\n%sreturn\n", indent, indent, zshQuote(what), indent)
	}
	fmt.Fprint(w, "#compdef ferry\n# zsh completion for ferry: source <(ferry completion zsh), after compinit\n_ferry() {\n")
	fmt.Fprint(w, "\tif (( CURRENT == 2 )); then\n")
	describe("\t\t", append(tree,
		compCommand{names: []string{"version"}, summary: "print the version"},
		compCommand{names: []string{"help"}, summary: "show the commands"}), "ferry command")
	fmt.Fprint(w, "\tfi\n\tlocal cmd=$words[2]\n\tshift words\n\t(( CURRENT-- ))\n")
	for _, c := range tree {
		if c.sub == nil {
			continue
		}
		fmt.Fprintf(w, "\tif [[ $cmd == %s ]]; then\n\t\tif (( CURRENT == 2 )); then\n", c.names[0])
		describe("\t\t\t", c.sub, "ferry "+c.names[0]+" command")
		fmt.Fprintf(w, "\t\tfi\n\t\tcmd=\"%s $words[2]\"\n\t\tshift words\n\t\t(( CURRENT-- ))\n\tfi\n", c.names[0])
	}
	fmt.Fprint(w, "\tcase $cmd in\n")
	for _, c := range leaves(tree) {
		var pats []string
		for _, p := range patterns(c) {
			pats = append(pats, zshQuote(p))
		}
		fmt.Fprintf(w, "\t(%s)\n\t\t_arguments -S", strings.Join(pats, "|"))
		for _, f := range c.flags {
			spec := dashed(f.name) + "[" + zshText(f.usage) + "]"
			switch {
			case f.files:
				spec += ":" + f.name + ":_files"
			case f.takesValue:
				spec += ":" + f.name + ": "
			}
			fmt.Fprintf(w, " \\\n\t\t\t%s", zshQuote(spec))
		}
		if c.files {
			fmt.Fprint(w, " \\\n\t\t\t'*:file:_files'")
		}
		if c.words != nil {
			fmt.Fprintf(w, " \\\n\t\t\t%s", zshQuote("1:"+c.name+":("+strings.Join(c.words, " ")+")"))
		}
		fmt.Fprint(w, " ;;\n")
	}
	fmt.Fprint(w, "\tesac\n}\n")
	fmt.Fprint(w, `if [[ $funcstack[1] == _ferry ]]; then
	_ferry "$@"
else
	compdef _ferry ferry
fi
`)
}

// fishQuote puts s in single quotes for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func writeFish(w io.Writer, tree []compCommand) {
	fmt.Fprint(w, "# fish completion for ferry: ferry completion fish | source\ncomplete -c ferry -f\n")
	var all []string
	for _, c := range tree {
		all = append(all, c.names...)
	}
	top := "not __fish_seen_subcommand_from " + strings.Join(append(all, "version", "help"), " ")
	for _, c := range tree {
		fmt.Fprintf(w, "complete -c ferry -n %s -a %s -d %s\n", fishQuote(top), c.names[0], fishQuote(c.summary))
	}
	fmt.Fprintf(w, "complete -c ferry -n %s -a version -d 'print the version'\n", fishQuote(top))
	for _, c := range tree {
		if c.sub == nil {
			continue
		}
		var subs []string
		for _, s := range c.sub {
			subs = append(subs, s.names...)
		}
		cond := "__fish_seen_subcommand_from " + c.names[0] + "; and not __fish_seen_subcommand_from " + strings.Join(subs, " ")
		for _, s := range c.sub {
			fmt.Fprintf(w, "complete -c ferry -n %s -a %s -d %s\n", fishQuote(cond), s.names[0], fishQuote(s.summary))
		}
	}
	for _, c := range leaves(tree) {
		cond := "__fish_seen_subcommand_from " + strings.Join(c.names, " ")
		if prefix, _, ok := strings.Cut(c.name, " "); ok {
			cond = "__fish_seen_subcommand_from " + prefix + "; and " + cond
		}
		for _, f := range c.flags {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			switch {
			case f.files:
				opt += " -r -F"
			case f.takesValue:
				opt += " -x"
			}
			fmt.Fprintf(w, "complete -c ferry -n %s %s -d %s\n", fishQuote(cond), opt, fishQuote(f.usage))
		}
		if c.files {
			fmt.Fprintf(w, "complete -c ferry -n %s -F\n", fishQuote(cond))
		}
		if c.words != nil {
			fmt.Fprintf(w, "complete -c ferry -n %s -a %s\n", fishQuote(cond), fishQuote(strings.Join(c.words, " ")))
		}
	}
}
