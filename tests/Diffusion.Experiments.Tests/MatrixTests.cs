using System.Text.Json.Nodes;
using Diffusion.Experiments.Matrix;
using Diffusion.Runtime;

namespace Diffusion.Experiments.Tests;

public class MatrixTests
{
    private static string Committed => Repo.File("configs", "experiments.json");

    /// <summary>The committed matrix with <paramref name="edit"/> applied, parsed under the name "m.json".</summary>
    private static ExperimentMatrix Edited(Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(File.ReadAllText(Committed), documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!.AsObject();
        edit(root);
        return ExperimentMatrix.Parse(root.ToJsonString(), "m.json");
    }

    private static InvalidInputException Bad(Action<JsonObject> edit) => Assert.Throws<InvalidInputException>(() => Edited(edit));

    [Fact]
    public void The_committed_matrix_is_the_issue_baseline_with_one_factor_per_variation()
    {
        var m = ExperimentMatrix.Load(Committed);
        var b = m.Baseline.Config;
        Assert.Equal(("baseline", "medium", NoiseScheduleKind.Cosine, 128, 1e-3, 300, PredictionType.Epsilon, "mnist"),
            (b.Name, b.Preset, b.Schedule, b.BatchSize, b.Lr, b.Timesteps, b.Prediction, b.Dataset));
        var v = m.Runs.Skip(1).ToDictionary(r => r.Name);
        Assert.Equal(9, v.Count);
        Assert.Equal(0.5 * b.Epochs, v["epochs-x0.5"].Epochs);
        Assert.Equal(2.0 * b.Epochs, v["epochs-x2"].Epochs);
        Assert.Equal("small", v["small"].Config.Preset);
        Assert.Equal(16, v["small"].Config.Model.BaseChannels);
        Assert.Equal(0.0, v["small"].Config.Model.Dropout); // the baseline's model override survives the preset change
        Assert.Equal([14, 7], v["large"].Config.Model.AttentionResolutions);
        Assert.Equal(NoiseScheduleKind.Linear, v["linear"].Config.Schedule);
        Assert.Equal(64, v["batch-64"].Config.BatchSize);
        Assert.Equal(5e-4, v["lr-5e-4"].Config.Lr);
        Assert.Equal(PredictionType.V, v["v-prediction"].Config.Prediction);
        Assert.Equal(1000, v["T-1000"].Config.Timesteps);
        // one factor each: with the varied fields put back, every config equals the baseline's
        foreach (var r in v.Values)
        {
            var c = r.Config;
            int differences = new[] { c.Preset != b.Preset, c.Schedule != b.Schedule, c.BatchSize != b.BatchSize, c.Lr != b.Lr, c.Prediction != b.Prediction, c.Timesteps != b.Timesteps, r.Epochs != m.Baseline.Epochs }.Count(x => x);
            Assert.True(differences == 1, $"{r.Name} changes {differences} factors");
            var back = c with { Name = b.Name, Preset = b.Preset, Model = b.Model, Schedule = b.Schedule, BatchSize = b.BatchSize, Lr = b.Lr, Prediction = b.Prediction, Timesteps = b.Timesteps };
            Assert.Equal(b.ToJson(), back.ToJson());
        }
        Assert.Equal([0, 4, 7], m.Evaluation.Digits);
        Assert.Equal([1f, 2, 4, 6], m.Evaluation.GuidanceScales);
    }

    /// <summary>Asserts the edit is refused with a message holding every one of <paramref name="expected"/>.</summary>
    private static void Refused(Action<JsonObject> edit, params string[] expected)
    {
        string message = Bad(edit).Message;
        foreach (var x in expected) Assert.True(message.Contains(x, StringComparison.Ordinal), $"'{x}' not in: {message}");
    }

    [Fact]
    public void An_unknown_config_field_names_the_file_the_run_and_the_field()
    {
        Refused(r => r["variations"]![2]!["config"]!["presett"] = "small", "m.json", "variation 'small'", "presett");
        Refused(r => r["baseline"]!["learning_rate"] = 0.1, "m.json", "baseline", "learning_rate");
        Refused(r => r["variations"]![2]!["config"] = new JsonObject { ["model"] = new JsonObject { ["base_chanels"] = 8 } }, "m.json", "variation 'small'", "base_chanels");
        Refused(r => r["evaluation"]!["guidance_scale"] = 3, "m.json", "evaluation", "guidance_scale");
    }

    [Fact]
    public void A_bad_value_names_the_file_the_run_and_the_field()
    {
        Refused(r => r["variations"]![6]!["config"]!["lr"] = -1, "m.json", "variation 'lr-5e-4'", "lr = -1");
        Refused(r => r["variations"]![3]!["config"]!["preset"] = "huge", "m.json", "variation 'large'", "huge");
        Refused(r => r["variations"]![0]!["epochs_scale"] = 0, "m.json", "variation 'epochs-x0.5'", "epochs_scale");
        Refused(r => r["evaluation"]!["digits"] = new JsonArray(0, 12), "m.json", "evaluation.digits");
        Refused(r => r["evaluation"]!["steps"] = 500, "m.json", "evaluation.steps", "300");
    }

    [Fact]
    public void Structural_mistakes_are_refused()
    {
        Assert.Contains("unknown key 'variation'", Bad(r => r["variation"] = new JsonArray()).Message);
        Assert.Contains("used twice", Bad(r => r["variations"]![1]!["name"] = "epochs-x0.5").Message);
        Assert.Contains("out_dir", Bad(r => r["variations"]![1]!["config"] = new JsonObject { ["out_dir"] = "x" }).Message);
        Assert.Contains("changes nothing", Bad(r => r["variations"]!.AsArray().Add(new JsonObject { ["name"] = "same" })).Message);
        Assert.Contains("file-name safe", Bad(r => r["variations"]![1]!["name"] = "a/b").Message);
        Assert.Contains("not valid JSON", Assert.Throws<InvalidInputException>(() => ExperimentMatrix.Parse("{", "m.json")).Message);
        var missing = Assert.Throws<InvalidInputException>(() => ExperimentMatrix.Load("no/such/matrix.json"));
        Assert.Contains("no/such/matrix.json", missing.Message);
    }

    [Fact]
    public void Only_keeps_the_baseline_and_refuses_unknown_runs()
    {
        var m = ExperimentMatrix.Load(Committed);
        Assert.Equal(["baseline", "small"], m.Select(["small"]).Select(r => r.Name));
        Assert.Equal(10, m.Select(null).Count);
        var e = Assert.Throws<InvalidInputException>(() => m.Select(["small", "tiny"]));
        Assert.Contains("'tiny'", e.Message);
        Assert.Contains("--only", e.Message);
    }

    [Fact]
    public void Merge_overlays_objects_key_by_key()
    {
        var merged = ExperimentMatrix.Merge(new JsonObject { ["a"] = 1, ["model"] = new JsonObject { ["dropout"] = 0.0, ["groups"] = 8 } },
            new JsonObject { ["b"] = 2, ["model"] = new JsonObject { ["groups"] = 4 } });
        Assert.Equal("""{"a":1,"model":{"dropout":0,"groups":4},"b":2}""", merged.ToJsonString());
    }
}
