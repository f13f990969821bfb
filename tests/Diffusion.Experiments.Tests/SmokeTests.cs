using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace Diffusion.Experiments.Tests;

/// <summary>The whole study end to end on a tiny matrix: runs of a tiny U-Net on 256 MNIST images (one of them diverges).</summary>
public class SmokeTests(ITestOutputHelper output)
{
    private static string TinyMatrix(string data) => $$"""
    {
      "description": "smoke study",
      "baseline": {
        "name": "base", "dataset": "mnist", "data": "{{data}}",
        "preset": null, "model": { "base_channels": 8, "channel_mults": [1, 2], "blocks_per_level": 1, "groups": 4, "dropout": 0.0 },
        "timesteps": 50, "epochs": 1, "batch_size": 64, "lr": 0.003, "warmup_steps": 2, "ema_decay": 0.9, "seed": 1,
        "device": "cpu", "sample_every": 0, "checkpoint_every": 0, "sample_steps": 2, "samples_per_class": 1
      },
      "variations": [
        { "name": "linear", "factor": "noise schedule", "config": { "schedule": "linear" } },
        { "name": "diverge", "factor": "learning rate", "config": { "lr": 1e30, "grad_clip": 0.0 } }
      ],
      "evaluation": { "per_class": 2, "steps": 3, "digits": [0, 7], "guidance_scales": [1, 3], "images_per_cell": 2, "trajectory_frames": 3, "batch": 32 }
    }
    """;

    [Fact]
    public void A_tiny_study_writes_the_report_and_a_second_invocation_reuses_its_runs()
    {
        using var dir = new TempDir();
        string data = Repo.MnistSubset(dir["data"], train: 256, test: 200);
        File.WriteAllText(dir["m.json"], TinyMatrix(data));
        string[] args = ["experiments", "--matrix", dir["m.json"], "--out", dir["out"], "--threads", "1", "--judges", Repo.File("models", "mnist"), "--measure-steps", "1"];

        var clock = Stopwatch.StartNew();
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = ExperimentsCli.Run(args, stdout, stderr);
        output.WriteLine($"first invocation: {clock.Elapsed.TotalSeconds:F1} s\n{stdout}\n{stderr}");
        Assert.True(code == 0, stderr.ToString());

        foreach (var f in new[] { "report.md", "report.json", "plan.json", "loss.png", "metrics.png", "digit-0.png", "digit-7.png",
                                  "reverse-trajectory.png", "reverse-x0.png", "reverse.gif", "forward-vs-reverse.png",
                                  "runs/base/result.json", "runs/linear/model/unet-guided.onnx", "runs/linear/loss-steps.csv", "runs/base/samples.png" })
            Assert.True(File.Exists(dir["out/" + f]), $"missing {f}");
        Assert.Equal("\x89PNG", System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(dir["out/digit-0.png"]).AsSpan(0, 4)));

        using var json = JsonDocument.Parse(File.ReadAllText(dir["out/report.json"]));
        var runs = json.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(["base", "linear"], runs.Select(r => r.GetProperty("name").GetString()));
        foreach (var r in runs)
        {
            var m = r.GetProperty("metrics");
            Assert.Equal(20, m.GetProperty("count").GetInt32());
            Assert.InRange(m.GetProperty("accuracy").GetDouble(), 0, 1);
            Assert.True(m.GetProperty("frechet_distance").GetDouble() > 0);
            var cost = r.GetProperty("cost");
            Assert.Equal(256, cost.GetProperty("images_seen").GetInt64());
            Assert.Equal(4, cost.GetProperty("steps").GetInt64());
            Assert.Equal(4, File.ReadAllLines(dir[$"out/runs/{r.GetProperty("name").GetString()}/loss-steps.csv"]).Length - 1);
            Assert.NotEmpty(r.GetProperty("loss_curve").EnumerateArray());
        }
        Assert.Null(json.RootElement.GetProperty("plan").GetProperty("budget").GetProperty("budget_seconds").GetString());
        // a diverging run is reported as failed; the study goes on without it
        var failed = json.RootElement.GetProperty("failed_runs").EnumerateArray().Single();
        Assert.Equal("diverge", failed.GetProperty("name").GetString());
        Assert.Contains("diverged", failed.GetProperty("error").GetString());
        string md = File.ReadAllText(dir["out/report.md"]);
        Assert.Contains("## Findings", md);
        Assert.Contains("`linear` (schedule = linear): judge accuracy", md);
        Assert.Contains("No budget", md);
        Assert.Contains("- `diverge` (lr = 1e30, grad_clip = 0.0): Training diverged", md);
        Assert.Contains("![digit-7.png](digit-7.png)", md);

        // a second invocation on the same folder reads both runs back and rewrites the report
        clock.Restart();
        (stdout, stderr) = (new StringWriter(), new StringWriter());
        code = ExperimentsCli.Run(args, stdout, stderr);
        output.WriteLine($"second invocation: {clock.Elapsed.TotalSeconds:F1} s\n{stdout}");
        Assert.True(code == 0, stderr.ToString());
        Assert.Contains("base (read back)", stdout.ToString());
        Assert.Contains("linear (read back)", stdout.ToString());
        using var again = JsonDocument.Parse(File.ReadAllText(dir["out/report.json"]));
        Assert.Equal(2, again.RootElement.GetProperty("reused_runs").GetArrayLength());

        // and a different budget on that folder is refused rather than mixed in
        (stdout, stderr) = (new StringWriter(), new StringWriter());
        Assert.Equal(2, ExperimentsCli.Run([.. args, "--budget-minutes", "30"], stdout, stderr));
        Assert.Contains("planned differently", stderr.ToString());
    }
}
