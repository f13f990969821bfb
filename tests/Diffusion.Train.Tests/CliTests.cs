using System.Text.Json.Nodes;
using Diffusion.Runtime;
using Diffusion.Train.Cli;
using Diffusion.Train.Config;

namespace Diffusion.Train.Tests;

public class CliTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _config;
    private readonly string _out;

    public CliTests()
    {
        var data = TestData.WriteIdx(_dir["data"], 64);
        _out = _dir["run"];
        _config = WriteConfig("tiny.json", TestData.TinyConfig(data, _out).ToJson());
    }

    public void Dispose() => _dir.Dispose();

    private string WriteConfig(string name, string json) { File.WriteAllText(_dir[name], json); return _dir[name]; }

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = TrainCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Theory]
    [InlineData("batch_size", "--batch-size", "0")]
    [InlineData("epochs", "--epochs", "-1")]
    [InlineData("epochs", "--epochs", "0")]
    [InlineData("sigmoid", "--schedule", "sigmoid")]
    [InlineData("banana", "--prediction", "banana")]
    [InlineData("huge", "--preset", "huge")]
    [InlineData("lr", "--lr", "-0.001")]
    [InlineData("label_dropout", "--label-dropout", "1.5")]
    [InlineData("no-such-folder", "--data", "no-such-folder")]
    [InlineData("quantum", "--device", "quantum")]
    [InlineData("twelve", "--epochs", "twelve")]
    [InlineData("lanczos", "--resize", "lanczos")]
    [InlineData("min_snr_gamma", "--min-snr-gamma", "-5")]
    public void InvalidOption_ExitsWith2_AndWritesNothing(string expectedInMessage, string option, string value)
    {
        var (code, _, err) = Run("train", "--config", _config, option, value);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains(expectedInMessage, err);
        Assert.False(Directory.Exists(_out), "nothing may be written on invalid input");
    }

    [Fact]
    public void BenchTrain_ReportsTrainingFlopsAndTheFractionOfTheGemmPeak()
    {
        var (code, output, err) = Run("bench-train", "--presets", "small", "--steps", "1", "--batch-size", "2", "--threads", "1");
        Assert.True(code == 0, err);
        Assert.Contains("GEMM peak of libtorch", output);
        string row = output.Split('\n').Single(l => l.StartsWith("| small |", StringComparison.Ordinal));
        var cells = row.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10, cells.Length);
        // training MFLOP / image: 3x the small preset's forward pass at 28x28 (the exporter's count, tested in export)
        double mflop = double.Parse(cells[7], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(3 * Diffusion.Train.Training.TrainBenchmark.ForwardFlopsPerImage(Diffusion.Train.Model.UNetConfig.Preset("small")) / 1e6, mflop, 0.1);
        double percent = double.Parse(cells[9], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(percent, 0, 100);
    }

    [Fact]
    public void ARunFolderInUse_IsRefused_BeforeAnythingIsWritten()
    {
        // another trainer (here: this process) holds the run folder
        using var held = Diffusion.Tools.FolderLock.Acquire(_out, "Run folder");
        var (code, _, err) = Run("train", "--config", _config);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains($"is in use by process {Environment.ProcessId}", err);
        Assert.Equal([held.Path], Directory.GetFileSystemEntries(_out));
    }

    [Fact]
    public void AFolderGivenAsConfigOrCheckpoint_IsNamedAsAFolder()
    {
        string folder = Path.GetDirectoryName(_config)!;
        var (code, _, err) = Run("train", "--config", folder);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains($"Config file {folder} is a folder; expected a file.", err);
        var e = Assert.Throws<InvalidInputException>(() => Diffusion.Train.Checkpoints.Checkpoint.Load(folder));
        Assert.Equal($"Checkpoint {folder} is a folder; expected a file.", e.Message);
        Assert.False(Directory.Exists(_out));
    }

    [Theory]
    [InlineData("batch_size", 0)]
    [InlineData("schedule", "sigmoid")]
    [InlineData("prediction", "score")]
    [InlineData("preset", "huge")]
    [InlineData("typo_key", 1)]
    [InlineData("timesteps", 1)]
    [InlineData("resize", "stretch")]
    public void InvalidConfigFileValue_ExitsWith2_AndWritesNothing(string key, object value)
    {
        var json = JsonNode.Parse(File.ReadAllText(_config))!.AsObject();
        json[key] = JsonValue.Create(value);
        if (key == "preset") json.Remove("model");
        var (code, _, err) = Run("train", "--config", WriteConfig("bad.json", json.ToJsonString()));
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains("bad.json", err);
        Assert.Contains(value is string s ? s : key, err);
        Assert.False(Directory.Exists(_out));
    }

    [Fact]
    public void Resize_is_written_only_when_asked_for_so_existing_configs_stay_byte_identical()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot(), "configs"), "*.json").Where(f => !f.EndsWith("experiments.json", StringComparison.Ordinal)))
            Assert.DoesNotContain("resize", TrainConfig.Load(file).ToJson());
        var json = JsonNode.Parse(File.ReadAllText(_config))!.AsObject();
        json["resize"] = "cubic";
        var cfg = TrainConfig.Load(WriteConfig("cubic.json", json.ToJsonString()));
        Assert.Equal(Diffusion.Imaging.ResizeMode.Cubic, cfg.Resize);
        Assert.Contains("\"resize\": \"cubic\"", cfg.ToJson());
        Assert.Equal(cfg.ToJson(), TrainConfig.Parse(cfg.ToJson(), "round trip").ToJson());
    }

    [Fact]
    public void MinSnrGamma_is_written_only_when_on_so_existing_configs_stay_byte_identical()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot(), "configs"), "*.json").Where(f => !f.EndsWith("experiments.json", StringComparison.Ordinal)))
        {
            var cfg0 = TrainConfig.Load(file);
            if (cfg0.MinSnrGamma == 0) Assert.DoesNotContain("min_snr_gamma", cfg0.ToJson());
        }
        var json = JsonNode.Parse(File.ReadAllText(_config))!.AsObject();
        Assert.DoesNotContain("min_snr_gamma", TrainConfig.Load(_config).ToJson());
        json["min_snr_gamma"] = 5.0;
        var cfg = TrainConfig.Load(WriteConfig("minsnr.json", json.ToJsonString()));
        Assert.Equal(5.0, cfg.MinSnrGamma);
        Assert.Contains("\"min_snr_gamma\": 5", cfg.ToJson());
        Assert.Equal(cfg.ToJson(), TrainConfig.Parse(cfg.ToJson(), "round trip").ToJson());
    }

    [Fact]
    public void RandomFlip_is_off_unless_asked_and_written_only_when_on()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot(), "configs"), "*.json").Where(f => !f.EndsWith("experiments.json", StringComparison.Ordinal)))
        {
            var cfg0 = TrainConfig.Load(file);
            if (!cfg0.RandomFlip) Assert.DoesNotContain("random_flip", cfg0.ToJson());
            if (cfg0.Dataset is "mnist" or "fashion-mnist") Assert.False(cfg0.RandomFlip, $"{file}: a mirrored digit or garment is another image");
        }
        var json = JsonNode.Parse(File.ReadAllText(_config))!.AsObject();
        json["random_flip"] = true;
        var cfg = TrainConfig.Load(WriteConfig("flip.json", json.ToJsonString()));
        Assert.True(cfg.RandomFlip);
        Assert.Contains("\"random_flip\": true", cfg.ToJson());
        Assert.Equal(cfg.ToJson(), TrainConfig.Parse(cfg.ToJson(), "round trip").ToJson());

        var (code, _, err) = Run("train", "--config", _config, "--random-flip", "--epochs", "1", "--plain");
        Assert.True(code == 0, err);
        Assert.Contains("\"random_flip\": true", File.ReadAllText(Path.Combine(_out, "config.json")));
    }

    // README's shapes numbers come from the quick config with --data data/shapes --image-size 32 --epochs 25
    // --min-snr-gamma 5 --batch-size 32 (--sample-every 0 --checkpoint-every 0); configs/shapes.json must be that same training
    [Fact]
    public void The_shapes_config_is_the_quick_recipe_on_the_shapes_folder()
    {
        var quick = TrainConfig.Load(Path.Combine(RepoRoot(), "configs", "mnist-quick.json"));
        var shapes = TrainConfig.Load(Path.Combine(RepoRoot(), "configs", "shapes.json"));
        var expected = quick with
        {
            Name = shapes.Name, Dataset = "shapes", Data = "data/shapes", ClassNames = Diffusion.Imaging.ShapesDataset.Classes.ToList(),
            Model = quick.Model with { InChannels = 3, ImageSize = 32, NumClasses = 4 }, Epochs = 25, MinSnrGamma = 5, BatchSize = 32,
            SampleEvery = 5, CheckpointEvery = 5,
        };
        Assert.Equal(expected.ToJson(), shapes.ToJson());
    }

    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "Pipeline.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above the test binaries.");
    }

    [Fact]
    public void MissingConfigFile_ExitsWith2()
    {
        var (code, _, err) = Run("train", "--config", _dir["absent.json"]);
        Assert.Equal(2, code);
        Assert.Contains("absent.json", err);
    }

    [Fact]
    public void CorruptIdx_ExitsWith2_NamingTheFile()
    {
        File.WriteAllBytes(_dir["data/train-labels-idx1-ubyte"], [0, 0, 8, 1, 0, 0]);
        var (code, _, err) = Run("train", "--config", _config);
        Assert.Equal(2, code);
        Assert.Contains("train-labels-idx1-ubyte", err);
        Assert.False(Directory.Exists(_out));
    }

    [Fact]
    public void Cuda_WhenUnavailable_ExitsWith2()
    {
        if (TorchSharp.torch.cuda_is_available()) return;
        var (code, _, err) = Run("train", "--config", _config, "--device", "cuda");
        Assert.Equal(2, code);
        Assert.Contains("CUDA", err);
        Assert.False(Directory.Exists(_out));
    }

    [Fact]
    public void ValidRun_Exits0_ThenRefusesToOverwrite_ThenResumes()
    {
        var (code, stdout, err) = Run("train", "--config", _config, "--epochs", "1", "--plain");
        Assert.True(code == 0, err);
        Assert.Contains("epoch 1/1", stdout);
        Assert.True(File.Exists(Path.Combine(_out, "checkpoints", "last.ckpt")));
        Assert.Contains("\"epochs\": 1", File.ReadAllText(Path.Combine(_out, "config.json")));

        (code, _, err) = Run("train", "--config", _config, "--epochs", "1");
        Assert.Equal(2, code);
        Assert.Contains("--resume", err);

        // extend the run by one epoch
        (code, stdout, err) = Run("train", "--config", _config, "--epochs", "2", "--resume", "--plain");
        Assert.True(code == 0, err);
        Assert.Contains("epoch 2/2", stdout);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(_out, "log.jsonl")).Length);
    }

    // A full disk while saving a checkpoint: the write fails part-way (here a per-file size limit, RLIMIT_FSIZE, set
    // on a real trainer process, so write(2) itself fails with EFBIG as it would with ENOSPC); the previous
    // last.ckpt stays byte for byte, nothing half-written is left, and the one-line error says which checkpoint was
    // kept and how to go on.
    [Fact]
    public async Task AFailedCheckpointWrite_KeepsThePreviousCheckpoint_AndSaysSo()
    {
        var (code, _, err) = Run("train", "--config", _config, "--epochs", "1", "--plain");
        Assert.True(code == 0, err);
        string last = Path.Combine(_out, "checkpoints", "last.ckpt");
        byte[] before = File.ReadAllBytes(last);
        var files = Directory.GetFiles(Path.Combine(_out, "checkpoints")).Order().ToArray();

        string cli = TrainCliDll();
        var psi = new System.Diagnostics.ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        long limitKb = before.Length / 2 / 1024;
        // .NET's W^X double mapping sizes a memfd with ftruncate, which the file-size limit would refuse at startup
        psi.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        foreach (var a in new[] { "-c", $"trap '' XFSZ; ulimit -f {limitKb}; exec \"$0\" \"$@\"", Environment.ProcessPath!, cli,
            "train", "--config", _config, "--epochs", "2", "--resume", "--plain" }) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        string message = await stderr;
        Assert.True(p.ExitCode == InvalidInputException.ExitCode, $"exit {p.ExitCode}: {message} {stdout}");
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: cannot write: checkpoint ", lines[0]);
        Assert.Contains($"the previous {last} (step 1, epoch 1) is kept", lines[0]);
        Assert.Contains("--resume", lines[0]);
        Assert.Equal(before, File.ReadAllBytes(last));
        Assert.Empty(Directory.GetFiles(Path.Combine(_out, "checkpoints"), ".*.tmp"));
        Assert.Equal(files, Directory.GetFiles(Path.Combine(_out, "checkpoints")).Order().ToArray()); // no partial epoch copy either
    }

    private static string TrainCliDll()
    {
        // the command line beside the library, built with the solution (make test), in this test's configuration
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string root = bin.FullName;
        while (!File.Exists(Path.Combine(root, "Pipeline.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Pipeline.sln not found");
        string dll = Path.Combine(root, "train", "Diffusion.Train.Cli", "bin", bin.Parent!.Name, bin.Name, "Diffusion.Train.Cli.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution first (make build)");
        return dll;
    }
}
