using System.Globalization;
using Diffusion.Eval.Evaluation;
using Diffusion.Experiments.Matrix;
using Diffusion.Experiments.Study;
using Diffusion.Imaging;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;
using Diffusion.Tools;

namespace Diffusion.Experiments.Report;

/// <summary>The image files of the report: comparison grids per digit and the baseline's reverse process.</summary>
public static class Visuals
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// One PNG per digit: rows = runs, columns = guidance scales (each <c>images_per_cell</c> wide), every cell from the
    /// same noise. Returns the file names written (relative to <paramref name="outDir"/>).
    /// </summary>
    public static IReadOnlyList<string> ComparisonGrids(string outDir, IReadOnlyList<RunResult> runs, int height, int width)
    {
        var first = runs[0].Samples;
        foreach (var r in runs)
            if (!r.Samples.Digits.SequenceEqual(first.Digits) || !r.Samples.Scales.SequenceEqual(first.Scales) || r.Samples.PerCell != first.PerCell || r.Samples.Seed != first.Seed)
                throw new InvalidInputException($"Run '{r.Name}' was sampled with other digits, scales or seed than '{runs[0].Name}'; a resumed study must keep the matrix's evaluation settings.");
        int size = height * width, k = first.PerCell, d = first.Digits.Length, s = first.Scales.Length;
        var samples = runs.Select(r => RunExecutor.LoadSamples(outDir, r)).ToArray();
        var files = new List<string>();
        for (int di = 0; di < d; di++)
        {
            var grid = new float[runs.Count * s * k * size];
            for (int ri = 0; ri < runs.Count; ri++)
                for (int si = 0; si < s; si++)
                    samples[ri].AsSpan((si * d + di) * k * size, k * size).CopyTo(grid.AsSpan((ri * s + si) * k * size));
            string name = $"digit-{first.Digits[di]}.png";
            LabelledGrid.Write(Path.Combine(outDir, name), grid, runs.Select(r => r.Name).ToArray(),
                first.Scales.Select(x => new ColumnGroup(string.Create(Inv, $"guidance {x:0.##}"), k)).ToArray(), height, width,
                title: string.Create(Inv, $"Digit {first.Digits[di]}: rows = runs, columns = guidance scale (same noise in every cell row, seed {first.Seed})"));
            files.Add(name);
        }
        return files;
    }

    /// <summary>
    /// The baseline's reverse process for the matrix's digits at the metric set's setting: the trajectory x_t (and the
    /// predicted x_0) at evenly spaced steps, an animated GIF, and the forward process of the first real test image of
    /// each digit at the same timesteps against the reverse one. Returns the file names written.
    /// </summary>
    public static IReadOnlyList<string> ReverseProcess(string outDir, DiffusionPipeline pipeline, IdxDataset test, EvaluationSettings e, string dataSource)
    {
        var meta = pipeline.Metadata;
        int h = meta.Height, w = meta.Width, size = meta.Channels * h * w, d = e.Digits.Length;
        int every = Math.Max(1, (int)Math.Ceiling((double)e.Steps / e.TrajectoryFrames));
        var result = pipeline.Generate(new GenerationRequest
        {
            Labels = e.Digits, GuidanceScale = e.Guidance, Steps = e.Steps, Sampler = EvalDefaults.Sampler, SamplerOptions = SamplerOptions.Images,
            Seed = e.Seed, BatchSize = d, TrajectoryEvery = every,
        });
        var frames = result.Trajectory;
        var xs = frames.Select(f => f.Sample).ToList();
        var x0s = frames.Select(f => f.PredictedX0).ToList();
        string T(int t) => t == ProcessFrames.Clean ? "clean" : $"t={t}";
        var rows = e.Digits.Select(x => $"digit {x}").ToArray();
        var columns = frames.Select(f => new ColumnGroup(f.Step == 0 ? "x_T" : T(f.Timestep), 1)).ToArray();
        string setting = e.Setting.ToString();

        LabelledGrid.Write(Path.Combine(outDir, "reverse-trajectory.png"), Strips.Arrange(xs, d, size), rows, columns, h, w,
            $"Baseline reverse process x_t ({setting}); columns = the timestep t the sample is at");
        LabelledGrid.Write(Path.Combine(outDir, "reverse-x0.png"), Strips.Arrange(x0s, d, size), rows, columns, h, w,
            "Baseline: the x_0 predicted at each step");
        AnimatedGif.Write(Path.Combine(outDir, "reverse.gif"), xs, 1, d, h, w);

        // forward q(x_t | x_0) of a real digit at the timestep each reverse frame stands at (x_T: the first sampled t)
        var timesteps = frames.Select(f => f.Timestep).ToArray();
        var forward = ProcessFrames.Forward(pipeline.Schedule, ProcessFrames.FirstOfEachClass(test, e.Digits, dataSource), size, e.Seed, timesteps);
        var pair = new List<float[]>();
        var pairRows = new List<string>();
        for (int di = 0; di < d; di++)
        {
            pair.Add(Strips.Arrange(forward.Select(f => f.AsSpan(di * size, size).ToArray()).ToList(), 1, size));
            pair.Add(Strips.Arrange(xs.Select(f => f.AsSpan(di * size, size).ToArray()).ToList(), 1, size));
            pairRows.Add($"forward, real {e.Digits[di]}");
            pairRows.Add($"reverse, generated {e.Digits[di]}");
        }
        LabelledGrid.Write(Path.Combine(outDir, "forward-vs-reverse.png"), pair.SelectMany(p => p).ToArray(), pairRows,
            frames.Select(f => new ColumnGroup(T(f.Timestep), 1)).ToArray(), h, w,
            "Forward q(x_t | x_0) of a real test digit against the baseline's reverse process, at the same t");
        return ["reverse-trajectory.png", "reverse-x0.png", "reverse.gif", "forward-vs-reverse.png"];
    }
}
