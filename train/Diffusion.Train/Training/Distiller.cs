using System.Globalization;
using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Tools;

namespace Diffusion.Train.Training;

/// <summary>Settings of a whole distillation (<c>make distill</c>): the stages' shared hyperparameters.</summary>
public sealed record DistillOptions
{
    /// <summary>The trained model: a checkpoint (its EMA weights teach stage one) or an exported model folder such as models/mnist.</summary>
    public string Teacher { get; init; } = RunFolder.DisplayLastCheckpoint("mnist");
    /// <summary>Folder of the stages (default <c>runs/&lt;teacher run&gt;-distill</c>).</summary>
    public string? Out { get; init; }
    /// <summary>DDIM steps of the first halving's teacher (the stage-one student); a power of two.</summary>
    public int TeacherSteps { get; init; } = 32;
    /// <summary>Fewest steps distilled (halvings go TeacherSteps/2, /4, ... down to this).</summary>
    public int DownTo { get; init; } = 1;
    /// <summary>Epochs of stage one.</summary>
    public int GuidanceEpochs { get; init; } = 2;
    /// <summary>Epochs of each halving.</summary>
    public int HalvingEpochs { get; init; } = 1;
    /// <summary>Peak learning rate of every stage.</summary>
    public double Lr { get; init; } = 5e-4;
    /// <summary>Batch size (null: the teacher's).</summary>
    public int? BatchSize { get; init; }
    /// <summary>What the students predict (v by default: an epsilon student's first step from t = T - 1 divides by alpha ~ 0).</summary>
    public PredictionType StudentPrediction { get; init; } = PredictionType.V;
    /// <summary>Smallest guidance scale drawn in training.</summary>
    public double MinScale { get; init; } = 1.0;
    /// <summary>Largest guidance scale drawn in training.</summary>
    public double MaxScale { get; init; } = 6.0;
    /// <summary>Intra-op threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Use only the first N training images (0 = all).</summary>
    public int MaxTrainImages { get; init; }
    /// <summary>Data folder (null: the teacher's).</summary>
    public string? Data { get; init; }
}

/// <summary>One stage of a distillation: its name, folder and training config.</summary>
/// <param name="Name">"guidance" or "steps-N".</param>
/// <param name="Config">The stage's training config (its <see cref="TrainConfig.Distill"/> names teacher and objective).</param>
public sealed record DistillStagePlan(string Name, TrainConfig Config);

/// <summary>
/// Guidance distillation then progressive distillation (issue 18) as a chain of ordinary training runs, one folder per
/// stage under the output folder: <c>guidance/</c> (Meng et al. stage one, from the teacher checkpoint), then
/// <c>steps-N/</c> for N = TeacherSteps / 2 down to <see cref="DistillOptions.DownTo"/>, each taught by the previous
/// stage's checkpoint. Every stage is a <see cref="DiffusionTrainer"/> run (checkpoints, log, TensorBoard, sample grids,
/// Ctrl+C and resume); a finished stage is skipped when the chain runs again, an unfinished one resumed.
/// </summary>
public static class Distiller
{
    /// <summary>The stages, with their configs, in order. Reads the teacher checkpoint's config.</summary>
    /// <exception cref="InvalidInputException">A missing or unusable teacher, step counts that do not halve, bad values.</exception>
    public static IReadOnlyList<DistillStagePlan> Plan(DistillOptions o)
    {
        if (o.TeacherSteps < 2 || (o.TeacherSteps & (o.TeacherSteps - 1)) != 0)
            throw new InvalidInputException($"--teacher-steps {o.TeacherSteps}; expected a power of two >= 2 (each halving halves it).");
        if (o.DownTo < 1 || o.DownTo >= o.TeacherSteps || (o.DownTo & (o.DownTo - 1)) != 0)
            throw new InvalidInputException($"--down-to {o.DownTo}; expected a power of two from 1 to {o.TeacherSteps / 2}.");
        if (o.GuidanceEpochs < 1) throw new InvalidInputException($"--guidance-epochs {o.GuidanceEpochs}; expected >= 1.");
        if (o.HalvingEpochs < 1) throw new InvalidInputException($"--halving-epochs {o.HalvingEpochs}; expected >= 1.");
        TrainConfig teacher;
        string origin;
        using (var t = TeacherModel.Load(o.Teacher)) (teacher, origin) = (t.Config, t.Sha256);
        if (teacher.Model.GuidanceEmbedding)
            throw new InvalidInputException($"Teacher {o.Teacher} is already a distilled student; expected a trained model's checkpoint.");
        string root = o.Out ?? RunFolder.Named(teacher.Name + "-distill").Dir;
        // the teacher's data folder, unless given; a release model's card names the folder it was trained from
        string data = o.Data ?? teacher.Data;
        TrainConfig Stage(string name, DistillConfig distill, int epochs) => (teacher with
        {
            Name = $"{teacher.Name}-distill-{name}",
            OutDir = Path.Combine(root, name),
            Data = data,
            Model = teacher.Model with { GuidanceEmbedding = true, Dropout = 0 },
            Prediction = o.StudentPrediction,
            Distill = distill,
            Epochs = epochs,
            Lr = o.Lr,
            MinLr = Math.Min(teacher.MinLr, o.Lr),
            WarmupSteps = Math.Min(teacher.WarmupSteps, 100),
            BatchSize = o.BatchSize ?? teacher.BatchSize,
            LabelDropout = 0,
            MinSnrGamma = 0,
            Threads = o.Threads,
            MaxTrainImages = o.MaxTrainImages,
            SampleEvery = 1,
            CheckpointEvery = 0,
            SampleSteps = distill.Stage == DistillStage.Guidance ? o.TeacherSteps : distill.StudentSteps,
        }).Validate();

        var plan = new List<DistillStagePlan>();
        string Last(string stage) => new RunFolder(Path.Combine(root, stage)).LastCheckpoint;
        plan.Add(new("guidance", Stage("guidance", new DistillConfig { Teacher = o.Teacher, Stage = DistillStage.Guidance, OriginSha256 = origin, MinScale = o.MinScale, MaxScale = o.MaxScale }, o.GuidanceEpochs)));
        string previous = "guidance";
        for (int n = o.TeacherSteps / 2; n >= o.DownTo; n /= 2)
        {
            string name = StageName(n);
            plan.Add(new(name, Stage(name, new DistillConfig { Teacher = Last(previous), Stage = DistillStage.Halving, StudentSteps = n, OriginSha256 = origin, MinScale = o.MinScale, MaxScale = o.MaxScale }, o.HalvingEpochs)));
            previous = name;
        }
        return plan;
    }

    /// <summary>The folder name of the N-step student's stage.</summary>
    public static string StageName(int steps) => string.Create(CultureInfo.InvariantCulture, $"steps-{steps}");

    /// <summary>Runs every stage not finished yet (resuming an interrupted one). Returns false when a stage was stopped.</summary>
    /// <param name="plan">From <see cref="Plan"/>.</param>
    /// <param name="options">Console and output of each stage's trainer (Resume and Force are decided here).</param>
    /// <param name="cancel">Ctrl+C: the running stage saves a resumable checkpoint.</param>
    public static bool Run(IReadOnlyList<DistillStagePlan> plan, TrainOptions options, CancellationToken cancel = default)
    {
        var log = options.Output ?? Console.Out;
        foreach (var stage in plan)
        {
            string last = new RunFolder(stage.Config.RunDir).LastCheckpoint;
            bool resume = false;
            if (File.Exists(last))
            {
                int epoch;
                using (var ck = Checkpoint.Load(last)) epoch = ck.Epoch;
                if (epoch >= stage.Config.Epochs) { log.WriteLine($"stage {stage.Name}: done ({last})"); continue; }
                resume = true;
            }
            log.WriteLine($"stage {stage.Name}: {DescribeStage(stage.Config)}");
            var stageOptions = options with { Resume = resume, Force = false, ResumeOverrides = resume ? c => c with { Epochs = stage.Config.Epochs, Threads = stage.Config.Threads } : null };
            using var trainer = DiffusionTrainer.Prepare(stage.Config, stageOptions);
            var result = trainer.Run(cancel);
            if (!result.Completed) return false;
        }
        return true;
    }

    private static string DescribeStage(TrainConfig c) => c.Distill switch
    {
        { Stage: DistillStage.Guidance } d => string.Create(CultureInfo.InvariantCulture, $"guidance-conditioned student of {d.Teacher} (scales {d.MinScale} to {d.MaxScale}), {c.Epochs} epoch(s)"),
        { } d => string.Create(CultureInfo.InvariantCulture, $"{d.StudentSteps}-step student of the {2 * d.StudentSteps}-step {d.Teacher}, {c.Epochs} epoch(s)"),
        null => "training",
    };
}
