// Package cli is the safekeep command line: one file per verb, built on
// cobra. Run executes a command line in-process, which is what main calls and
// what the tests drive.
//
// Contract: every failure returns a non-zero exit code (1 for a failure, 2
// for a wrong command line) after printing exactly one line,
// "safekeep: ...", on stderr; no stack trace, no credential, no secret key.
// Results go to stdout; progress and logs go to stderr.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/internal/version"
)

// pluginPrefix starts the name kubectl finds a plugin by: installed as
// kubectl-safekeep, the CLI runs as `kubectl safekeep`.
const pluginPrefix = "kubectl-"

// Streams are the standard streams a command uses.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// isTerminal reports whether w is a terminal (an *os.File on a tty).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Main runs the command line of the process and returns its exit code.
// Ctrl-C (SIGINT) or SIGTERM cancels the context: a seal in progress then
// stops, leaving an incomplete and safe copy that the next run completes.
func Main(ctx context.Context) int {
	return runAs(ctx, displayName(os.Args[0]), os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}

// displayName is how help and completion name the program run as argv0:
// "kubectl safekeep" for the kubectl plugin, else "safekeep".
func displayName(argv0 string) string {
	if strings.HasPrefix(filepath.Base(argv0), pluginPrefix) {
		return "kubectl safekeep"
	}
	return "safekeep"
}

// Run executes one safekeep command line with the given streams and returns
// the exit code: 0 on success, 1 on failure, 2 on a usage error. On failure
// it has printed one line on s.Err.
func Run(ctx context.Context, args []string, s Streams) (code int) {
	return runAs(ctx, "safekeep", args, s)
}

func runAs(ctx context.Context, name string, args []string, s Streams) (code int) {
	if s.In == nil {
		s.In = eofReader{}
	}
	defer func() {
		// A bug below must still end in one line, not a stack trace
		// (unless --verbose asks for it).
		if r := recover(); r != nil {
			// stderr is the last resort: nowhere to report its failure.
			_, _ = fmt.Fprintf(s.Err, "safekeep: internal error: %s\n", oneLine(fmt.Errorf("%v", r)))
			if slices.Contains(args, "--verbose") || slices.Contains(args, "-v") {
				_, _ = s.Err.Write(debug.Stack())
			}
			code = exitFailure
		}
	}()
	root := newRoot(s)
	root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: name}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var ue *usageError
	if errors.As(err, &ue) && cmd != nil && cmd != root && !strings.HasPrefix(ue.msg, cmd.Name()+":") {
		ue.msg = cmd.Name() + ": " + ue.msg // name the verb whose flags are wrong
	}
	if err != nil {
		// stderr is the last resort: nowhere to report its failure; the
		// exit code still says the command failed.
		_, _ = fmt.Fprintf(s.Err, "safekeep: %s\n", oneLine(err))
	}
	return exitCode(err)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// options are the root command's persistent flags.
type options struct {
	verbose bool
	streams Streams
}

func newRoot(s Streams) *cobra.Command {
	opts := &options{streams: s}
	root := &cobra.Command{
		Use:   "safekeep",
		Short: "Encrypted, immutable offsite copies of Velero backups",
		Long: `safekeep seals Velero backups offsite: every object is encrypted with age to
the target's recipients, written to an S3 bucket (object-locked when the target
asks), and described by a signed seal.json. It lists, verifies and restores
sealed backups with no cluster: all it needs is the bucket and, to decrypt, an
age identity.

Credentials come from the standard AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the shared-credentials file
(AWS_SHARED_CREDENTIALS_FILE, profile AWS_PROFILE or the location's profile).`,
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		// Without a verb, show help; with an unknown one, noArgs says so.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			log := newLogger(opts)
			// controller-runtime's client logs through its global logger,
			// and prints a stack trace to stderr when none was set.
			ctrllog.SetLogger(log)
			cmd.SetContext(logr.NewContext(cmd.Context(), log))
		},
	}
	root.SetVersionTemplate("{{.DisplayName}} version {{.Version}}\n")
	root.SuggestionsMinimumDistance = 2
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%s: %v (see '%s --help')", cmd.Name(), err, cmd.CommandPath())
	})
	root.PersistentFlags().BoolVarP(&opts.verbose, "verbose", "v", false, "write debug logs to stderr")
	root.AddCommand(
		newKeygen(opts),
		newSeal(opts),
		newBackups(opts),
		newVerify(opts),
		newRestore(opts),
		newRecover(opts),
		newBackup(opts),
		newDrill(opts),
		newAudit(opts),
		newTargetCmd(opts),
	)
	return root
}

// noArgs refuses positional arguments as a usage error, suggesting a verb
// when the argument looks like a misspelled one.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		msg := fmt.Sprintf("unknown command %q", args[0])
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return usagef("%s; see 'safekeep --help'", msg)
	}
	return usagef("%s: unexpected argument %q (every input is a flag; see '%s --help')", cmd.Name(), args[0], cmd.CommandPath())
}

// newLogger returns a logr.Logger writing text to stderr at debug level with
// --verbose, and one that discards otherwise.
func newLogger(opts *options) logr.Logger {
	if !opts.verbose {
		return logr.Discard()
	}
	h := slog.NewTextHandler(opts.streams.Err, &slog.HandlerOptions{Level: slog.Level(-8)})
	return logr.FromSlogHandler(h)
}
