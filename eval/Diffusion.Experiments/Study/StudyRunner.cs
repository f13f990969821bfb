using System.Diagnostics;
using System.Globalization;
using Diffusion.Eval;
using Diffusion.Eval.Evaluation;
using Diffusion.Eval.Judges;
using Diffusion.Experiments.Budget;
using Diffusion.Experiments.Matrix;
using Diffusion.Experiments.Report;
using Diffusion.Runtime;
using Diffusion.Train.Training;
using Diffusion.Tools;

namespace Diffusion.Experiments.Study;

/// <summary>Settings of one <c>experiments</c> invocation.</summary>
public sealed record StudyOptions
{
    /// <summary>Matrix file.</summary>
    public string Matrix { get; init; } = ExperimentMatrix.DefaultPath;
    /// <summary>Wall-time budget of the whole study in minutes, or null to run the matrix as written.</summary>
    public double? BudgetMinutes { get; init; }
    /// <summary>Runs to do besides the baseline (null: all).</summary>
    public IReadOnlyCollection<string>? Only { get; init; }
    /// <summary>Study folder (default reports/experiments/&lt;matrix name&gt;[-&lt;budget&gt;min]).</summary>
    public string? Out { get; init; }
    /// <summary>CPU threads for training and sampling (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Images per class of the metric set (null: the matrix's evaluation.per_class).</summary>
    public int? PerClass { get; init; }
    /// <summary>Judge folder (default models/&lt;dataset&gt;).</summary>
    public string? Judges { get; init; }
    /// <summary>Measure, plan and print the plan, then stop (nothing is trained or written).</summary>
    public bool PlanOnly { get; init; }
    /// <summary>Training steps timed per (model, batch size) for the budget.</summary>
    public int MeasureSteps { get; init; } = 3;
    /// <summary>Command line, recorded in the report.</summary>
    public string Command { get; init; } = "";

    /// <summary>Checks the values that need no file.</summary>
    /// <exception cref="InvalidInputException">The message names the option.</exception>
    public void Validate()
    {
        if (BudgetMinutes is double b && !(b > 0 && double.IsFinite(b))) throw new InvalidInputException($"--budget-minutes {b.ToString(CultureInfo.InvariantCulture)}; expected a number of minutes > 0.");
        if (Threads < 0) throw new InvalidInputException($"--threads {Threads}; expected 0 (all cores) or more.");
        if (PerClass is < 1) throw new InvalidInputException($"--per-class {PerClass}; expected >= 1.");
        if (MeasureSteps < 1) throw new InvalidInputException($"--measure-steps {MeasureSteps}; expected >= 1.");
        if (Out is { } o && File.Exists(o)) throw new InvalidInputException($"--out {o} is a file; expected a folder.");
    }

    /// <summary>The study folder.</summary>
    public string OutDir => Out ?? Path.Combine("reports", "experiments",
        Path.GetFileNameWithoutExtension(Matrix) + (BudgetMinutes is double b ? string.Create(CultureInfo.InvariantCulture, $"-{b:0.##}min") : ""));
}

/// <summary>
/// Runs a study: checks everything, scores the real data once, measures and plans (or reads the folder's plan),
/// trains and evaluates every run (skipping finished ones), then writes the report folder.
/// </summary>
public static class StudyRunner
{
    /// <summary>Runs the study; returns the report (null with <see cref="StudyOptions.PlanOnly"/>) and the plan.</summary>
    /// <exception cref="InvalidInputException">Bad options, matrix, data or judges, or a folder planned for another study.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; run the same command again to continue.</exception>
    public static (StudyReport? Report, StudyPlan Plan) Run(StudyOptions o, TextWriter log, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        o.Validate();
        var matrix = ExperimentMatrix.Load(o.Matrix);
        var runs = matrix.Select(o.Only);
        var evaluation = o.PerClass is int pc ? matrix.Evaluation with { PerClass = pc } : matrix.Evaluation;
        var baseline = matrix.Baseline.Config;
        string judgeFolder = o.Judges ?? Path.Combine("models", baseline.Dataset);
        using var judges = JudgeSet.Load(judgeFolder);
        if (!string.Equals(judges.Card.Dataset, baseline.Dataset, StringComparison.OrdinalIgnoreCase) || judges.Card.NumClasses != baseline.ClassNames.Count)
            throw new InvalidInputException($"The judges in {judgeFolder} judge '{judges.Card.Dataset}' ({judges.Card.NumClasses} classes); {o.Matrix} trains '{baseline.Dataset}' ({baseline.ClassNames.Count} classes). Pass --judges with the matching folder.");
        if (judges.LightGbm is null) log.WriteLine($"note: no LightGBM judge in {judgeFolder}; reporting the main judge only");
        var train = IdxDataset.LoadSplit(baseline.Data, "train", baseline.ClassNames.Count);
        var test = IdxDataset.LoadSplit(baseline.Data, "t10k", baseline.ClassNames.Count);
        foreach (var r in runs.Where(r => r.Config.Data != baseline.Data)) IdxDataset.LoadSplit(r.Config.Data, "train", r.Config.ClassNames.Count);
        string outDir = o.OutDir;
        var saved = File.Exists(Path.Combine(outDir, StudyPlan.FileName)) && !o.PlanOnly ? Json.Read<StudyPlan>(Path.Combine(outDir, StudyPlan.FileName)) : null;

        TorchSetup.PreferPassiveOpenMpWait();
        int threads = TorchSetup.SetThreads(o.Threads);
        var sw = Stopwatch.StartNew();
        log.WriteLine($"scoring the real data in {baseline.Data} with the judges in {judgeFolder}");
        var real = RealReference.Load(judges, baseline.Data);
        double realSeconds = sw.Elapsed.TotalSeconds;

        var plan = saved ?? MakePlan(o, matrix, runs, evaluation, train.Count, realSeconds, clock, log);
        if (saved is not null)
        {
            var now = plan with { MatrixSha256 = matrix.Sha256, BudgetMinutes = o.BudgetMinutes, PerClass = evaluation.PerClass, Runs = runs.Select(r => r.Name).ToArray() };
            if (saved.Mismatch(now) is string why)
                throw new InvalidInputException($"--out {outDir} holds a study planned differently: {why}. Use the same options to continue it, or another --out.");
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"continuing the study in {outDir} (planned {saved.CreatedUtc}, factor {saved.Budget.Factor:0.####})"));
        }
        PrintPlan(plan, runs, log);
        if (o.PlanOnly) return (null, plan);
        Directory.CreateDirectory(outDir);
        if (saved is null) AtomicFile.WriteAllText(Path.Combine(outDir, StudyPlan.FileName), Json.Serialize(plan) + "\n");

        var ctx = new StudyContext(outDir, evaluation, judges, real, o.Threads, log);
        var results = new List<RunResult>();
        var reused = new List<string>();
        var failed = new List<FailedRun>();
        foreach (var (spec, i) in runs.Select((r, i) => (r, i)))
        {
            ct.ThrowIfCancellationRequested();
            var allocation = plan.Budget.Runs.Single(a => a.Name == spec.Name);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{i + 1}/{runs.Count}] {spec.Name} ({(spec.IsBaseline ? "baseline" : spec.Change)}): {allocation.Epochs} epoch(s) of {(allocation.MaxTrainImages > 0 ? allocation.MaxTrainImages : allocation.ImagesSeen / allocation.Epochs):N0} images, " +
                $"estimated {(allocation.TrainSeconds + allocation.EvalSeconds) / 60:F1} min"));
            RunResult result;
            bool wasReused;
            try { (result, wasReused) = RunExecutor.Execute(spec, allocation, ctx, ct); }
            catch (InvalidOperationException e) when (!spec.IsBaseline)
            {
                // e.g. a diverged training run: the study goes on without it, and the report says so
                log.WriteLine($"  {spec.Name} failed: {e.Message}");
                failed.Add(new FailedRun(spec.Name, spec.Change, e.Message));
                continue;
            }
            if (wasReused) reused.Add(spec.Name);
            results.Add(result);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {spec.Name}{(wasReused ? " (read back)" : "")}: accuracy {Percent.Of(result.Metrics.Accuracy, 1)}, Frechet distance {result.Metrics.FrechetDistance:F2}, " +
                $"training {result.Cost.TrainSeconds:F0} s wall / {result.Cost.TrainCpuSeconds:F0} s CPU, evaluation {result.Cost.EvalSeconds:F0} s"));
        }

        log.WriteLine("writing the report");
        var report = WriteReport(o, matrix, plan, evaluation, judgeFolder, real, results, reused, failed, test, baseline.Data, threads, clock);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"report -> {Path.Combine(outDir, "report.md")} ({clock.Elapsed.TotalMinutes:F1} min)"));
        return (report, plan);
    }

    private static StudyPlan MakePlan(StudyOptions o, ExperimentMatrix matrix, IReadOnlyList<RunSpec> runs, EvaluationSettings evaluation, int trainCount,
        double realSeconds, Stopwatch clock, TextWriter log)
    {
        var sw = Stopwatch.StartNew();
        log.WriteLine($"measuring training and sampling speed ({o.MeasureSteps} training steps per model and batch size)");
        var device = TorchSetup.ResolveDevice(matrix.Baseline.Config.Device);
        var measured = CostModel.Measure(runs, device, o.MeasureSteps, log.WriteLine);
        double measureSeconds = sw.Elapsed.TotalSeconds;
        var costs = runs.Select(r =>
        {
            var t = CostModel.For(measured, r);
            int n = r.Config.MaxTrainImages > 0 ? Math.Min(r.Config.MaxTrainImages, trainCount) : trainCount;
            return new RunCost(r.Name, r.Epochs, r.Config.BatchSize, n, t.TrainImagesPerSecond, CostModel.EvalSeconds(r, evaluation, t.InferenceImagesPerSecond));
        }).ToArray();
        double fixedSeconds = clock.Elapsed.TotalSeconds + CostModel.ReportSeconds;
        var budget = BudgetPlanner.Plan(costs, o.BudgetMinutes * 60, fixedSeconds);
        return new StudyPlan
        {
            MatrixSha256 = matrix.Sha256, BudgetMinutes = o.BudgetMinutes, PerClass = evaluation.PerClass, Runs = runs.Select(r => r.Name).ToArray(),
            Threads = o.Threads, Throughput = measured, MeasureSeconds = Math.Round(measureSeconds, 1), RealReferenceSeconds = Math.Round(realSeconds, 1),
            Budget = budget, CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        };
    }

    private static void PrintPlan(StudyPlan plan, IReadOnlyList<RunSpec> runs, TextWriter log)
    {
        var b = plan.Budget;
        log.WriteLine(b.BudgetSeconds is double s
            ? string.Create(CultureInfo.InvariantCulture, $"plan: budget {s / 60:0.##} min, common factor f = {b.Factor:0.####}, estimated {b.EstimatedSeconds / 60:F1} min in all")
            : string.Create(CultureInfo.InvariantCulture, $"plan: no budget (f = 1), estimated {b.EstimatedSeconds / 60:F1} min in all"));
        foreach (var a in b.Runs)
        {
            var spec = runs.First(r => r.Name == a.Name);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {a.Name,-16} {spec.Epochs,5:0.##} matrix epochs -> {a.Epochs} x {(a.MaxTrainImages > 0 ? a.MaxTrainImages : a.ImagesSeen / a.Epochs),6:N0} images ({a.ImagesSeen:N0} seen), " +
                $"train ~{a.TrainSeconds / 60:F1} min, eval ~{a.EvalSeconds / 60:F1} min"));
        }
    }

    private static StudyReport WriteReport(StudyOptions o, ExperimentMatrix matrix, StudyPlan plan, EvaluationSettings evaluation, string judgeFolder,
        RealReference real, IReadOnlyList<RunResult> results, IReadOnlyList<string> reused, IReadOnlyList<FailedRun> failed, IdxDataset test, string dataFolder, int threads, Stopwatch clock)
    {
        string outDir = o.OutDir;
        var files = new List<string>();
        var baselineResult = results[0];
        using (var pipeline = EvalRunner.LoadModel(Path.Combine(RunExecutor.RunDir(outDir, baselineResult.Name), RunExecutor.ModelFolder), o.Threads))
            files.AddRange(Visuals.ReverseProcess(outDir, pipeline, test, evaluation, dataFolder));
        files.AddRange(Visuals.ComparisonGrids(outDir, results, test.Height, test.Width));
        StudyPlots.LossCurves(Path.Combine(outDir, "loss.png"), results);
        int setSize = evaluation.PerClass * matrix.Baseline.Config.ClassNames.Count;
        StudyPlots.MetricBars(Path.Combine(outDir, "metrics.png"), results, real.TestCnnMetrics.Accuracy, real.FloorAt(setSize));
        files.AddRange(["loss.png", "metrics.png"]);
        var findings = Findings.Generate(FindingRow.From(baselineResult), results.Skip(1).Select(FindingRow.From).ToArray(),
            plan.Budget.BudgetSeconds is null ? null : new BudgetScaling(plan.Budget.Factor, results.Min(r => r.Plan.Fraction), results.Max(r => r.Plan.Fraction)));
        var report = new StudyReport
        {
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), Command = o.Command, Machine = MachineInfo.Describe(),
            Matrix = matrix.Source, MatrixSha256 = matrix.Sha256, Description = matrix.Description, Threads = threads, Judges = judgeFolder, Plan = plan,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1), ReusedRuns = reused.ToArray(), FailedRuns = failed.ToArray(), Evaluation = evaluation,
            Real = new RealSummary
            {
                TestCount = real.Test.Count, Accuracy = real.TestCnnMetrics.Accuracy, LightGbmAccuracy = real.TestLightGbmMetrics?.Accuracy,
                FrechetFloor = real.Floor, FrechetFloorSameSize = real.FloorAt(setSize), DiversityMean = Eval.Metrics.Diversity.Mean(real.TestDiversity),
            },
            Runs = results, Findings = findings, Files = files,
        };
        report.Files.AddRange(["report.md", "report.json", StudyPlan.FileName]);
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.json"), Json.Serialize(report) + "\n");
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), MarkdownWriter.Render(report));
        return report;
    }
}
