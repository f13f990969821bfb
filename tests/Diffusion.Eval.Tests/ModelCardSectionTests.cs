using Diffusion.Eval.Evaluation;
using Diffusion.Eval.Metrics;
using Diffusion.Eval.Report;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Eval.Tests;

public class ModelCardSectionTests
{
    private static EvalReport Report(double accuracy) => new()
    {
        CreatedUtc = "2026-01-01T00:00:00Z", Command = "eval report", Machine = "test machine", Dataset = "mnist",
        ClassNames = ["a", "b"],
        Generated = new GeneratedInfo { Setting = "dpm++ 20 steps, guidance 3", PerClass = 5, Count = 10, Seed = 1 },
        Metrics = new SetEvaluation
        {
            Count = 10, FrechetDistance = 1.5, FrechetFloorSameSize = 0.5, DiversityMean = 2,
            Cnn = new ClassificationMetrics { Count = 10, Accuracy = accuracy, PerClassAccuracy = [1.0, 0.6] },
        },
        Real = new RealSummary { Cnn = new ClassificationMetrics { Accuracy = 0.99 }, FrechetFloor = 0.25, TrainSampleCount = 100, DiversityMean = 2.5 },
        Sweep =
        [
            new SweepPoint { Scale = 2, Steps = 50, CnnAccuracy = 0.95, FrechetDistance = 1.0 },
            new SweepPoint { Scale = 4, Steps = 10, CnnAccuracy = 0.95, FrechetDistance = 2.0 },
            new SweepPoint { Scale = 4, Steps = 20, CnnAccuracy = 0.90, FrechetDistance = 3.0 },
        ],
        SweepSampler = "dpm++", SweepPerClass = 5,
    };

    [Fact]
    public void Section_states_the_report_numbers_and_the_best_sweep_setting()
    {
        string md = ModelCardSection.Markdown(Report(0.8), "reports/x");
        Assert.Contains("| 80.00 % | 99.00 % (test set) |", md);
        Assert.Contains("60.00 % (b)", md);                                   // weakest class named
        Assert.Contains("best main-judge accuracy 95.00 % at scale 4 and 10 steps", md); // tie -> fewer steps
        Assert.Contains("lowest Frechet distance 1.000 at scale 2, 50 steps", md);
    }

    [Fact]
    public void Update_appends_once_then_replaces_and_keeps_the_rest_of_the_card()
    {
        string dir = Directory.CreateTempSubdirectory().FullName;
        string card = Path.Combine(dir, "model-card.md");
        File.WriteAllText(card, "# Model card\n\nexported text\n");
        ModelCardSection.Update(card, Report(0.8), "r1");
        ModelCardSection.Update(card, Report(0.9), "r2");
        string text = File.ReadAllText(card);
        Assert.StartsWith("# Model card\n\nexported text\n\n" + ModelCardSection.Begin, text);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, "eval:begin"));
        Assert.Contains("90.00 %", text);
        Assert.DoesNotContain("80.00 %", text);
        Assert.EndsWith(ModelCardSection.End + "\n", text);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void A_missing_card_or_a_half_section_is_refused()
    {
        string dir = Directory.CreateTempSubdirectory().FullName;
        string card = Path.Combine(dir, "model-card.md");
        Assert.Throws<InvalidInputException>(() => ModelCardSection.Update(card, Report(1), "r"));
        File.WriteAllText(card, "# card\n" + ModelCardSection.Begin + "\nhalf\n");
        var e = Assert.Throws<InvalidInputException>(() => ModelCardSection.Update(card, Report(1), "r"));
        Assert.Contains(card, e.Message);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void A_student_report_sets_its_own_row_of_the_students_table_and_leaves_the_Quality_section()
    {
        string dir = Directory.CreateTempSubdirectory().FullName;
        string card = Path.Combine(dir, ModelFolderLayout.CardMarkdown);
        File.WriteAllText(card, "# Model card\n");
        File.WriteAllText(Path.Combine(dir, ModelFolderLayout.CardJson), "{}\n");
        ModelCardSection.Update(card, Report(0.8), "teacher");
        EvalReport Student(int steps, double acc) => Report(acc) with
        {
            Generated = new GeneratedInfo { Student = true, Graph = ModelFolderLayout.StudentFile(steps, false), Steps = steps, GuidanceScale = 3, Count = 10, Seed = 1, Seconds = 0.5 },
        };
        Assert.Equal("students' quality table", ModelCardSection.Update(card, Student(4, 0.7), "s4"));
        ModelCardSection.Update(card, Student(2, 0.6), "s2");
        ModelCardSection.Update(card, Student(4, 0.9), "s4b");   // the 4-step row replaced
        string text = File.ReadAllText(card);
        Assert.Contains("80.00 %", text[..text.IndexOf(ModelCard.StudentQualityBegin, StringComparison.Ordinal)]); // the teacher's Quality section stays
        string table = text[text.IndexOf(ModelCard.StudentQualityBegin, StringComparison.Ordinal)..];
        int two = table.IndexOf("| `unet-student-2.onnx` | 2 | 3 | 10 | 60.00 % |", StringComparison.Ordinal);
        int four = table.IndexOf("| `unet-student-4.onnx` | 4 | 3 | 10 | 90.00 % |", StringComparison.Ordinal);
        Assert.True(two > 0 && four > two, table);                // one row per graph, by steps
        Assert.DoesNotContain("70.00 %", table);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ModelFolderLayout.CardJson)))!;
        Assert.Equal("s4b/report.md", (string)json[ModelCardSection.StudentQualityKey]!["unet-student-4.onnx"]!["report"]!);
        Directory.Delete(dir, true);
    }
}
