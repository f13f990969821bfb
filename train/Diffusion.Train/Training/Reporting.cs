using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Runtime;
using Spectre.Console;
using Diffusion.Tools;

namespace Diffusion.Train.Training;

/// <summary>How training talks to the console.</summary>
public enum ConsoleMode
{
    /// <summary>A live progress bar on a terminal, a line per epoch otherwise (CI, pipes).</summary>
    Auto,
    /// <summary>A line per epoch, no live display.</summary>
    Plain,
    /// <summary>Nothing (tests, library use).</summary>
    Silent,
}

/// <summary>One line of <c>log.jsonl</c>: a finished epoch.</summary>
/// <param name="Epoch">Epoch number, 1-based.</param>
/// <param name="Step">Optimizer steps taken at its end.</param>
/// <param name="Loss">Mean training loss of the epoch's steps run in this process.</param>
/// <param name="Lr">Learning rate of its last step.</param>
/// <param name="ImagesPerSecond">Training throughput (steps only; sampling and checkpoints excluded).</param>
/// <param name="Seconds">Wall time of the epoch's steps.</param>
/// <param name="CpuSeconds">CPU time the process used over those steps (all threads); on a shared machine the
/// wall time depends on the other processes, this much less.</param>
public sealed record EpochRecord(
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("lr")] double Lr,
    [property: JsonPropertyName("images_per_s")] double ImagesPerSecond,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("cpu_seconds")] double CpuSeconds);

/// <summary>
/// The per-epoch JSON-lines log (<c>runs/&lt;name&gt;/log.jsonl</c>). The whole file is rewritten atomically after
/// each epoch, so it is never partial; on resume the lines after the checkpoint's epoch are dropped.
/// </summary>
public sealed class EpochLog
{
    private readonly List<EpochRecord> _records = [];

    /// <summary>Log file path.</summary>
    public string Path { get; }

    /// <summary>The records so far.</summary>
    public IReadOnlyList<EpochRecord> Records => _records;

    /// <summary>Opens <paramref name="path"/>; when <paramref name="keepUpToEpoch"/> is given, existing lines up to that epoch are kept.</summary>
    public EpochLog(string path, int? keepUpToEpoch)
    {
        Path = path;
        if (keepUpToEpoch is int keep && File.Exists(path))
            foreach (var line in File.ReadAllLines(path).Where(l => l.Length > 0))
            {
                var r = JsonSerializer.Deserialize<EpochRecord>(line);
                if (r is not null && r.Epoch <= keep) _records.Add(r);
            }
    }

    /// <summary>Appends a record and rewrites the file.</summary>
    public void Add(EpochRecord record)
    {
        _records.Add(record);
        AtomicFile.WriteAllText(Path, string.Concat(_records.Select(r => JsonSerializer.Serialize(r) + "\n")));
    }
}

/// <summary>Live progress: a Spectre.Console bar on a terminal, plain lines otherwise.</summary>
public sealed class TrainingConsole
{
    private readonly ConsoleMode _mode;
    private readonly IAnsiConsole? _console;
    private readonly TextWriter _plain;

    /// <summary>Creates the console for <paramref name="mode"/>, writing to <paramref name="output"/> (default stdout).</summary>
    public TrainingConsole(ConsoleMode mode, TextWriter? output = null)
    {
        _plain = output ?? Console.Out;
        _console = mode == ConsoleMode.Silent ? null
            : AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(_plain) });
        bool live = mode == ConsoleMode.Auto && output is null && !Console.IsOutputRedirected && _console!.Profile.Capabilities.Interactive;
        _mode = mode == ConsoleMode.Silent ? ConsoleMode.Silent : live ? ConsoleMode.Auto : ConsoleMode.Plain;
    }

    /// <summary>Whether a live bar is shown.</summary>
    public bool Live => _mode == ConsoleMode.Auto;

    /// <summary>Writes a line (above the bar when it is live).</summary>
    public void Line(string text)
    {
        if (_mode == ConsoleMode.Silent) return;
        if (Live) _console!.MarkupLine(Markup.Escape(text));
        else { _plain.WriteLine(text); _plain.Flush(); }
    }

    /// <summary>Runs <paramref name="body"/> with a progress sink over <paramref name="totalSteps"/> steps starting at <paramref name="startStep"/>.</summary>
    public T Run<T>(long totalSteps, long startStep, Func<IStepProgress, T> body)
    {
        if (!Live) return body(_mode == ConsoleMode.Silent ? new NullProgress() : new PlainProgress(this, totalSteps));
        return _console!.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: totalSteps);
                task.Value = startStep;
                return body(new SpectreProgress(task));
            });
    }

    private sealed class NullProgress : IStepProgress
    {
        public void Report(long step, int epoch, double loss, double lr, double imagesPerSecond) { }
    }

    /// <summary>Without a terminal: a progress line at most once a minute, so long epochs still show life in CI logs.</summary>
    private sealed class PlainProgress(TrainingConsole console, long totalSteps) : IStepProgress
    {
        private readonly System.Diagnostics.Stopwatch _since = System.Diagnostics.Stopwatch.StartNew();

        public void Report(long step, int epoch, double loss, double lr, double imagesPerSecond)
        {
            if (_since.Elapsed.TotalSeconds < 60) return;
            _since.Restart();
            console.Line(string.Create(CultureInfo.InvariantCulture,
                $"  step {step}/{totalSteps} ({100.0 * step / totalSteps:F1}%) epoch {epoch} loss {loss:F4} lr {lr:E2} {imagesPerSecond:F1} img/s"));
        }
    }

    private sealed class SpectreProgress(ProgressTask task) : IStepProgress
    {
        public void Report(long step, int epoch, double loss, double lr, double imagesPerSecond)
        {
            task.Value = step;
            task.Description = string.Create(CultureInfo.InvariantCulture, $"epoch {epoch} loss {loss:F4} lr {lr:E2} {imagesPerSecond:F0} img/s");
        }
    }
}

/// <summary>Receives per-step progress.</summary>
public interface IStepProgress
{
    /// <summary>Reports the state after optimizer step <paramref name="step"/> (1-based count).</summary>
    void Report(long step, int epoch, double loss, double lr, double imagesPerSecond);
}
