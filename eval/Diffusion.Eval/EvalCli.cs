using System.CommandLine;
using System.Globalization;
using Diffusion.Eval;
using Diffusion.Eval.Evaluation;
using Diffusion.Eval.Judges;
using Diffusion.Eval.Report;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime.Samplers;
using Spectre.Console;
using Diffusion.Tools.Cli;

namespace Diffusion.Eval;

/// <summary>
/// The <c>eval</c> command line: <c>judges</c>, <c>report</c>, <c>gate</c> (ML.NET judges, quality report and the
/// accuracy gate; bad input exits 2, a failed gate exits 1). The Exe beside this library only calls <see cref="Run"/>.
/// </summary>
public static class EvalCli
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Parses and runs a command; returns the exit code (0 ok, 1 gate failed, 2 bad input).</summary>
    public static int Run(string[] args)
    {
        var root = new RootCommand("Evaluate generated images with ML.NET judges") { JudgesCommand(args), ReportCommand(args), GateCommand(), TableCommand() };
        return CliHost.Run(root, args);
    }

    /// <summary>"make TARGET ARGS='...'" for the arguments after the subcommand.</summary>
    private static string CommandLine(string make, string[] args) => $"make {make}" + (args.Length > 1 ? $" ARGS='{string.Join(' ', args.Skip(1))}'" : "");

    private static void Log(string line) => AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss}[/] {line}");

    // ---- table --------------------------------------------------------------------------------------------------

    private static Command TableCommand()
    {
        var reports = new Argument<string[]>("reports") { Description = "report folders (or their report.json), one row each, in this order", Arity = ArgumentArity.OneOrMore };
        var outFile = new Option<string?>("--out") { Description = "also write the table to this Markdown file" };
        var cmd = new Command("table", "One Markdown table comparing eval reports: what generated each set, U-Net passes per image, judges, Frechet distance, diversity, backgrounds, time") { reports, outFile };
        cmd.SetAction(pr =>
        {
            var list = pr.GetValue(reports)!.Select(p => Json.Read<EvalReport>(Directory.Exists(p) ? Path.Combine(p, EvalRunner.ReportJsonName) : p)).ToList();
            string md = ReportTable.Markdown(list);
            Console.Write(md);
            if (pr.GetValue(outFile) is { } o) Tools.AtomicFile.WriteAllText(o, md);
            return 0;
        });
        return cmd;
    }

    // ---- judges -------------------------------------------------------------------------------------------------

    private static Command JudgesCommand(string[] args)
    {
        var dataset = new Option<string>("--dataset") { Description = "mnist, fashion-mnist or an image folder's name (picks the default paths)", DefaultValueFactory = _ => "mnist" };
        var onnx = new Option<string?>("--onnx") { Description = $"exported judge CNN (default models/<dataset>/{ModelFolderLayout.JudgeOnnx})" };
        var outDir = new Option<string?>("--out") { Description = $"folder for the judges and {ModelFolderLayout.JudgeCard} (default models/<dataset>)" };
        var data = new Option<string?>("--data") { Description = "IDX folder or image folder with train/ and test/ (default data/<dataset>)" };
        var iters = new Option<int>("--lgbm-iterations") { Description = "LightGBM boosting rounds", DefaultValueFactory = _ => new LightGbmOptions().Iterations };
        var leaves = new Option<int>("--lgbm-leaves") { Description = "LightGBM leaves per tree", DefaultValueFactory = _ => new LightGbmOptions().Leaves };
        var lr = new Option<double>("--lgbm-lr") { Description = "LightGBM learning rate", DefaultValueFactory = _ => new LightGbmOptions().LearningRate };
        var limit = new Option<int>("--lgbm-limit") { Description = "train LightGBM on the first N training images (0 = all)" };
        var noLgbm = new Option<bool>("--no-lightgbm") { Description = "build only the ML.NET CNN judge" };
        var keepLgbm = new Option<bool>("--keep-lightgbm") { Description = "re-measure the LightGBM judge already in --out instead of training a new one" };
        var threads = new Option<int>("--threads") { Description = "threads (0 = default)" };
        var resize = ResizeOption();
        var cmd = new Command("judges", $"Build the ML.NET judges from the exported CNN and train the LightGBM judge; write {ModelFolderLayout.JudgeCard}")
        {
            dataset, onnx, outDir, data, iters, leaves, lr, limit, noLgbm, keepLgbm, threads, resize,
        };
        cmd.SetAction(pr =>
        {
            string name = pr.GetValue(dataset)!.Trim().ToLowerInvariant();
            int t = pr.GetValue(threads);
            if (t < 0) throw new InvalidInputException($"--threads {t}; expected >= 0.");
            var options = new JudgeBuildOptions
            {
                Onnx = pr.GetValue(onnx) ?? Path.Combine("models", name, ModelFolderLayout.JudgeOnnx),
                OutDir = pr.GetValue(outDir) ?? Path.Combine("models", name),
                Data = pr.GetValue(data) ?? Path.Combine("data", name),
                Resize = Imaging.ImageFolderDataset.ParseResize(pr.GetValue(resize)!),
                LightGbm = pr.GetValue(noLgbm) ? null : new LightGbmOptions
                {
                    Iterations = pr.GetValue(iters), Leaves = pr.GetValue(leaves), LearningRate = pr.GetValue(lr), Threads = t > 0 ? t : null,
                },
                LightGbmTrainLimit = pr.GetValue(limit), KeepLightGbm = pr.GetValue(keepLgbm), Threads = t > 0 ? t : null,
                Command = CommandLine("judges", args),
            };
            var card = JudgeBuilder.Build(options, Log);
            Log($"wrote {Path.Combine(options.OutDir, ModelFolderLayout.JudgeCard)} and {ModelFolderLayout.JudgeCardMarkdown}");
            var table = new Table().AddColumns("judge", "test accuracy", "mean confidence");
            if (card.CnnTest is { } c) table.AddRow("CNN (ML.NET OnnxTransformer)", c.Accuracy.ToString("P2", Inv), c.MeanConfidence.ToString("F4", Inv));
            if (card.LightGbmTest is { } l) table.AddRow("LightGBM (ML.NET)", l.Accuracy.ToString("P2", Inv), l.MeanConfidence.ToString("F4", Inv));
            AnsiConsole.Write(table);
            return 0;
        });
        return cmd;
    }

    // ---- shared sampling options --------------------------------------------------------------------------------

    private sealed record SamplingOptions(Option<string> Sampler, Option<int> Steps, Option<float> Guidance, Option<double> Eta, Option<ulong> Seed,
        Option<int> Batch, Option<int> Threads, Option<string> Precision, Option<string> Student)
    {
        public static SamplingOptions Create() => new(
            new Option<string>("--sampler") { Description = SamplerFactory.Names, DefaultValueFactory = _ => SamplerFactory.Name(EvalDefaults.Sampler) },
            new Option<int>("--steps") { Description = "sampling steps", DefaultValueFactory = _ => EvalDefaults.Steps },
            new Option<float>("--guidance") { Description = "guidance scale (diffusers convention: 1 = conditional)", DefaultValueFactory = _ => EvalDefaults.GuidanceScale },
            new Option<double>("--eta") { Description = "DDIM eta" },
            new Option<ulong>("--seed") { Description = "noise seed", DefaultValueFactory = _ => EvalDefaults.Seed },
            new Option<int>("--batch") { Description = "images per model call", DefaultValueFactory = _ => 64 },
            new Option<int>("--threads") { Description = "ONNX Runtime threads (0 = physical cores)" },
            new Option<string>("--precision") { Description = "graphs of the model folder: auto (int8 on the CPU when present), float32 or int8", DefaultValueFactory = _ => "auto" },
            new Option<string>("--student") { Description = "distilled students of the model folder: auto (the one for --steps serves it, with DDIM), off or require", DefaultValueFactory = _ => "auto" });

        public void AddTo(Command c) { c.Add(Sampler); c.Add(Steps); c.Add(Guidance); c.Add(Eta); c.Add(Seed); c.Add(Batch); c.Add(Threads); c.Add(Precision); c.Add(Student); }

        public PrecisionMode PrecisionOf(ParseResult pr) => RuntimeOptions.ParsePrecision(pr.GetValue(Precision)!);

        public SamplingSetting Setting(ParseResult pr)
            => new(SamplerFactory.Parse(pr.GetValue(Sampler)!), pr.GetValue(Steps), pr.GetValue(Guidance), pr.GetValue(Eta), StudentModes.Parse(pr.GetValue(Student)!));
    }

    // ---- report ---------------------------------------------------------------------------------------------------

    private static Command ReportCommand(string[] args)
    {
        var model = new Option<string?>("--model") { Description = $"model folder ({ModelFolderLayout.Unet}, {ModelFolderLayout.Guided}) or .onnx file (default models/mnist unless --images)" };
        var images = new Option<string?>("--images") { Description = "IDX images to judge instead of generating" };
        var labels = new Option<string?>("--labels") { Description = "IDX labels of --images" };
        var judges = new Option<string?>("--judges") { Description = "judge folder (default: the model's folder, else models/<dataset>)" };
        var dataset = new Option<string>("--dataset") { Description = "judges to use without --model / --judges", DefaultValueFactory = _ => "mnist" };
        var data = new Option<string?>("--data") { Description = "real data: IDX folder or image folder with train/ and test/ (default data/<dataset>)" };
        var perClass = new Option<int>("--per-class") { Description = "images generated per class", DefaultValueFactory = _ => 100 };
        var denoise = new Option<int>("--denoise") { Description = "test images for denoising PSNR/SSIM (0 = skip)", DefaultValueFactory = _ => 500 };
        var noSweep = new Option<bool>("--no-sweep") { Description = "skip the guidance sweep" };
        var scales = new Option<string>("--sweep-scales") { Description = "comma-separated guidance scales", DefaultValueFactory = _ => string.Join(",", Sweep.DefaultScales.Select(s => s.ToString(Inv))) };
        var steps = new Option<string>("--sweep-steps") { Description = "comma-separated step counts", DefaultValueFactory = _ => string.Join(",", Sweep.DefaultSteps) };
        var sweepPerClass = new Option<int>("--sweep-per-class") { Description = "images per class in each sweep setting", DefaultValueFactory = _ => 20 };
        var outDir = new Option<string?>("--out") { Description = "report folder (default reports/<dataset>-<UTC time>)" };
        var resizeReal = ResizeOption();
        var card = new Option<string?>("--card") { Description = $"also write the headline numbers into this model card's Quality section (e.g. models/mnist/{ModelFolderLayout.CardMarkdown})" };
        var s = SamplingOptions.Create();
        var cmd = new Command("report", "Judge generated (or IDX) images and write a JSON + Markdown + PNG report")
        {
            model, images, labels, judges, dataset, data, perClass, denoise, noSweep, scales, steps, sweepPerClass, outDir, card, resizeReal,
        };
        s.AddTo(cmd);
        cmd.SetAction(pr =>
        {
            var o = new EvalOptions
            {
                Model = pr.GetValue(model) ?? (pr.GetValue(images) is null ? Path.Combine("models", "mnist") : null),
                Images = pr.GetValue(images), Labels = pr.GetValue(labels), Judges = pr.GetValue(judges),
                Dataset = pr.GetValue(dataset)!.Trim().ToLowerInvariant(), Data = pr.GetValue(data), PerClass = pr.GetValue(perClass),
                Resize = Imaging.ImageFolderDataset.ParseResize(pr.GetValue(resizeReal)!),
                Setting = s.Setting(pr), Seed = pr.GetValue(s.Seed), BatchSize = pr.GetValue(s.Batch), Threads = pr.GetValue(s.Threads), Precision = s.PrecisionOf(pr),
                DenoiseCount = pr.GetValue(denoise), Sweep = !pr.GetValue(noSweep),
                SweepScales = ParseList(pr.GetValue(scales)!, "--sweep-scales", v => float.Parse(v, NumberStyles.Float, Inv)),
                SweepSteps = ParseList(pr.GetValue(steps)!, "--sweep-steps", v => int.Parse(v, NumberStyles.Integer, Inv)),
                SweepPerClass = pr.GetValue(sweepPerClass), Out = pr.GetValue(outDir),
                Command = CommandLine("eval", args),
            };
            string? cardPath = pr.GetValue(card);
            if (cardPath is not null && !File.Exists(cardPath)) throw new InvalidInputException($"--card {cardPath}: not found; export the model first (make export).");
            var (report, folder) = EvalRunner.Run(o, Log);
            var m = report.Metrics;
            var table = new Table().AddColumns("metric", "evaluated", "real data");
            table.AddRow("main judge accuracy", m.Cnn.Accuracy.ToString("P2", Inv), report.Real.Cnn.Accuracy.ToString("P2", Inv));
            if (m.LightGbm is not null) table.AddRow("LightGBM accuracy", m.LightGbm.Accuracy.ToString("P2", Inv), report.Real.LightGbm?.Accuracy.ToString("P2", Inv) ?? "-");
            table.AddRow("Frechet distance", m.FrechetDistance.ToString("F3", Inv), $"{m.FrechetFloorSameSize.ToString("F3", Inv)} (floor, same size)");
            table.AddRow("diversity", m.DiversityMean.ToString("F3", Inv), report.Real.DiversityMean.ToString("F3", Inv));
            AnsiConsole.Write(table);
            Log($"report: {Path.Combine(folder, "report.md")} ({report.Seconds.ToString("F0", Inv)} s)");
            if (cardPath is not null)
            {
                string section = ModelCardSection.Update(cardPath, report, Path.GetRelativePath(Directory.GetCurrentDirectory(), folder));
                Log($"card: {cardPath} ({section})");
            }
            return 0;
        });
        return cmd;
    }

    private static Option<string> ResizeOption() => new("--resize")
    {
        Description = "image folder: images of another size than the judges' are refused, or resized linear or cubic",
        DefaultValueFactory = _ => Imaging.ImageFolderDataset.ResizeName(Imaging.ResizeMode.Refuse),
    };

    private static T[] ParseList<T>(string text, string option, Func<string, T> parse)
    {
        try
        {
            var v = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(parse).ToArray();
            return v.Length > 0 ? v : throw new FormatException("empty");
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new InvalidInputException($"{option} '{text}'; expected a comma-separated list of numbers.", e);
        }
    }

    // ---- gate -----------------------------------------------------------------------------------------------------

    private static Command GateCommand()
    {
        var model = new Option<string>("--model") { Description = "model folder or .onnx file", DefaultValueFactory = _ => Path.Combine("models", "mnist") };
        var images = new Option<string?>("--images") { Description = "IDX images to judge instead of generating" };
        var labels = new Option<string?>("--labels") { Description = "IDX labels of --images" };
        var judges = new Option<string?>("--judges") { Description = "judge folder (default: the model's folder)" };
        var perClass = new Option<int>("--per-class") { Description = "images per class", DefaultValueFactory = _ => EvalDefaults.GatePerClass };
        var threshold = new Option<double>("--threshold") { Description = "minimum main-judge accuracy (0-1)", DefaultValueFactory = _ => EvalDefaults.GateThreshold };
        var outFile = new Option<string?>("--out") { Description = "also write the result as JSON" };
        var s = SamplingOptions.Create();
        var cmd = new Command("gate", "Generate a fixed seeded set, judge it with the ML.NET judge, fail below the threshold")
        {
            model, images, labels, judges, perClass, threshold, outFile,
        };
        s.AddTo(cmd);
        cmd.SetAction(pr =>
        {
            var o = new GateOptions
            {
                Model = pr.GetValue(model)!, Images = pr.GetValue(images), Labels = pr.GetValue(labels), Judges = pr.GetValue(judges),
                PerClass = pr.GetValue(perClass), Setting = s.Setting(pr), Seed = pr.GetValue(s.Seed), Threshold = pr.GetValue(threshold),
                BatchSize = pr.GetValue(s.Batch), Threads = pr.GetValue(s.Threads), Precision = s.PrecisionOf(pr), Out = pr.GetValue(outFile),
            };
            var r = Gate.Run(o, Log);
            var m = r.Metrics;
            var table = new Table().Title($"gate: {Markup.Escape(r.Source)}").AddColumns("class", "name", "images", "accuracy", "mean P(requested)");
            for (int c = 0; c < r.ClassNames.Length; c++)
            {
                string acc = double.IsNaN(m.PerClassAccuracy[c]) ? "-" : m.PerClassAccuracy[c].ToString("P2", Inv);
                string colour = double.IsNaN(m.PerClassAccuracy[c]) || m.PerClassAccuracy[c] >= r.Threshold ? "green" : "red";
                table.AddRow(c.ToString(Inv), Markup.Escape(r.ClassNames[c]), m.PerClassCount[c].ToString(Inv), $"[{colour}]{acc}[/]",
                    double.IsNaN(m.PerClassMeanTrueClassProbability[c]) ? "-" : m.PerClassMeanTrueClassProbability[c].ToString("F4", Inv));
            }
            table.AddRow("all", "", m.Count.ToString(Inv), $"[bold {(r.Passed ? "green" : "red")}]{m.Accuracy.ToString("P2", Inv)}[/]",
                m.MeanTrueClassProbability.ToString("F4", Inv));
            AnsiConsole.Write(table);
            string verdict = string.Create(Inv, $"accuracy {m.Accuracy:P2} vs threshold {r.Threshold:P2} (mean confidence {m.MeanConfidence:F4}, generation {r.GenerationSeconds:F1} s)");
            if (r.Passed) { AnsiConsole.MarkupLineInterpolated($"[bold green]PASS[/] {verdict}"); return 0; }
            AnsiConsole.MarkupLineInterpolated($"[bold red]FAIL[/] {verdict}");
            return Gate.FailExitCode;
        });
        return cmd;
    }
}
