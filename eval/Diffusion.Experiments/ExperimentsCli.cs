using System.CommandLine;
using Diffusion.Experiments.Matrix;
using Diffusion.Experiments.Study;
using Diffusion.Runtime;
using Diffusion.Train.Cli;
using Diffusion.Train.Training;
using Diffusion.Tools;
using Diffusion.Tools.Cli;

namespace Diffusion.Experiments;

/// <summary>
/// The <c>experiments</c> command line. Bad input (a missing or invalid matrix, an unknown run in --only, a budget
/// of 0 or less, missing judges or data) prints one message on stderr and returns
/// <see cref="InvalidInputException.ExitCode"/> (2) before anything is trained; Ctrl+C returns 130 after saving
/// a resumable checkpoint.
/// </summary>
public static class ExperimentsCli
{
    /// <summary>Exit code when the study was interrupted (run the same command again to continue).</summary>
    public const int CancelledExitCode = 130;

    /// <summary>Runs the command line; returns the process exit code.</summary>
    /// <param name="args">Arguments, e.g. <c>experiments --budget-minutes 55</c>.</param>
    /// <param name="stdout">Progress (default the console).</param>
    /// <param name="stderr">Errors (default the console's error stream).</param>
    /// <param name="cancel">Stops after the current training step, saving a resumable checkpoint.</param>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null, CancellationToken cancel = default)
    {
        TorchSetup.PreferPassiveOpenMpWait();
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = new RootCommand("One-factor experiment study: train every run of a matrix, export, judge, report.");
        root.Subcommands.Add(Build(args, stdout, stderr, cancel));
        return CliHost.Run(root, args, stdout, stderr);
    }

    private static Command Build(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        var cmd = new Command("experiments", "Train, export and judge every run of an experiment matrix and write a report folder (Markdown, PNGs, JSON).");
        var matrix = Add(cmd, new Option<string>("--matrix") { Description = $"Matrix file (default {ExperimentMatrix.DefaultPath}).", DefaultValueFactory = _ => ExperimentMatrix.DefaultPath });
        var budget = Add(cmd, new Option<double?>("--budget-minutes") { Description = "Fit the whole study into this many minutes by scaling every run's training length by one factor." });
        var only = Add(cmd, new Option<string?>("--only") { Description = "Comma-separated runs to do besides the baseline (default: all)." });
        var outDir = Add(cmd, new Option<string?>("--out") { Description = "Study folder (default reports/experiments/<matrix name>[-<budget>min]); an existing one is continued." });
        var threads = Add(cmd, new Option<int>("--threads") { Description = "CPU threads for training and sampling (0 = all cores)." });
        var perClass = Add(cmd, new Option<int?>("--per-class") { Description = "Images per class of each run's metric set (default: the matrix's evaluation.per_class)." });
        var judges = Add(cmd, new Option<string?>("--judges") { Description = "Judge folder (default models/<dataset>)." });
        var planOnly = Add(cmd, new Option<bool>("--plan-only") { Description = "Measure, print the plan and stop (trains and writes nothing)." });
        var measureSteps = Add(cmd, new Option<int>("--measure-steps") { Description = "Training steps timed per model and batch size for the budget.", DefaultValueFactory = _ => 3 });
        cmd.SetAction(parse =>
        {
            try
            {
                var options = new StudyOptions
                {
                    Matrix = parse.GetValue(matrix)!, BudgetMinutes = parse.GetValue(budget),
                    Only = parse.GetValue(only)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                    Out = parse.GetValue(outDir), Threads = parse.GetValue(threads), PerClass = parse.GetValue(perClass), Judges = parse.GetValue(judges),
                    PlanOnly = parse.GetValue(planOnly), MeasureSteps = parse.GetValue(measureSteps),
                    Command = "make experiments" + (args.Length > 1 ? $" ARGS='{string.Join(' ', args.Skip(1))}'" : ""),
                };
                if (options.Out is not null && !options.PlanOnly) OutputPath.CheckFolder(options.Out, "--out");
                StudyRunner.Run(options, stdout, cancel);
                return 0;
            }
            catch (InvalidInputException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return InvalidInputException.ExitCode;
            }
            catch (OperationCanceledException)
            {
                stderr.WriteLine("stopped; run the same command again to continue the study.");
                return CancelledExitCode;
            }
        });
        return cmd;
    }

    private static Option<T> Add<T>(Command cmd, Option<T> option)
    {
        cmd.Options.Add(option);
        return option;
    }
}
