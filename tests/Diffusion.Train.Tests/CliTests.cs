using System.Text.Json.Nodes;
using Diffusion.Runtime;
using Diffusion.Train.Cli;

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
    public void InvalidOption_ExitsWith2_AndWritesNothing(string expectedInMessage, string option, string value)
    {
        var (code, _, err) = Run("train", "--config", _config, option, value);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains(expectedInMessage, err);
        Assert.False(Directory.Exists(_out), "nothing may be written on invalid input");
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
}
