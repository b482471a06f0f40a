// compose-validate loads a Compose file the way `docker compose` does (compose-go v2: parse,
// interpolate, merge, validate against the Compose specification, normalize) and fails on any
// error. With -print it writes the normalized project as JSON, which tests compare to Giru's
// deployment topology. Usage: compose-validate [-print] [-profile NAME]... FILE
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type profiles []string

func (p *profiles) String() string     { return strings.Join(*p, ",") }
func (p *profiles) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	print := flag.Bool("print", false, "write the normalized project as JSON on stdout")
	var active profiles
	flag.Var(&active, "profile", "a profile to enable (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: compose-validate [-print] [-profile NAME]... FILE")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), active, *print); err != nil {
		fmt.Fprintln(os.Stderr, "compose-validate:", err)
		os.Exit(1)
	}
}

func run(file string, active []string, print bool) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	options, err := cli.NewProjectOptions(
		[]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithName("giru"),
		cli.WithProfiles(active),
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	if !print {
		fmt.Printf("%s: %d services, %d secrets, %d volumes\n", file, len(project.Services),
			len(project.Secrets), len(project.Volumes))
		return nil
	}
	out, err := json.MarshalIndent(project, "", "  ")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(out, '\n'))
	return err
}
