using System.Security.Cryptography;
using System.Text;
using Diffusion.Runtime;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using static TorchSharp.torch;
using Diffusion.Tools;

namespace Diffusion.Train.Checkpoints;

/// <summary>
/// The random state a run needs to continue exactly: the global torch generator (label dropout, timesteps, noise,
/// dropout) and the seed of the data order (<see cref="Data.EpochShuffle"/>, a pure function of seed and epoch).
/// </summary>
/// <param name="TorchGenerator">Bytes of <c>torch.get_rng_state()</c>.</param>
/// <param name="ShuffleSeed">Seed of the epoch permutations.</param>
public sealed record RngState(byte[] TorchGenerator, long ShuffleSeed);

/// <summary>
/// A training checkpoint: model and EMA weights, optimizer state, step, epoch, RNG state, the resolved config JSON
/// and the source commit. File layout (little-endian): magic <c>DDPMCKPT</c>, int32 format version, int64 payload
/// length, SHA-256 of the payload (32 bytes), payload. The payload holds the strings and counters, then
/// TorchSharp's own serialization of each state dict (<c>Module.save</c>) and of the optimizer
/// (<c>Optimizer.save_state_dict</c>). A file with another magic, a newer version, a wrong length or hash, or
/// weights that do not fit the architecture in its config is refused with an <see cref="InvalidInputException"/>
/// naming the file. Files are written to a temporary name and renamed (<see cref="AtomicFile"/>).
/// </summary>
public sealed class Checkpoint : IDisposable
{
    /// <summary>First 8 bytes of every checkpoint.</summary>
    public static ReadOnlySpan<byte> Magic => "DDPMCKPT"u8;
    /// <summary>Format version written by this code; newer versions are refused.</summary>
    public const int FormatVersion = 1;
    private const int HeaderSize = 8 + 4 + 8 + 32;

    /// <summary>The trained network (CPU unless moved).</summary>
    public UNet Model { get; }
    /// <summary>The EMA weights (use these for sampling and export), in eval mode.</summary>
    public UNet Ema { get; }
    /// <summary>The resolved training config (parsed from <see cref="ConfigJson"/>).</summary>
    public TrainConfig Config { get; }
    /// <summary>The resolved config JSON exactly as saved.</summary>
    public string ConfigJson { get; }
    /// <summary>SHA-256 of <see cref="ConfigJson"/> (lower-case hex).</summary>
    public string ConfigSha256 => TrainConfig.Sha256(ConfigJson);
    /// <summary>Commit the run was trained from, or "unknown".</summary>
    public string SourceCommit { get; }
    /// <summary>Optimizer steps taken.</summary>
    public long Step { get; }
    /// <summary>Epochs completed.</summary>
    public int Epoch { get; }
    /// <summary>Random state to continue the run.</summary>
    public RngState Rng { get; }
    /// <summary>Optimizer state in TorchSharp's format (null when saved without one); see <see cref="Optim.OptimizerSetup.LoadState"/>.</summary>
    public byte[]? OptimizerState { get; }
    /// <summary>The file it was loaded from.</summary>
    public string Path { get; }
    /// <summary>SHA-256 of the whole file (lower-case hex, as <c>sha256sum</c> prints it): every exported graph carries it.</summary>
    public string FileSha256 { get; }

    private Checkpoint(string path, string fileSha256, UNet model, UNet ema, TrainConfig config, string configJson, string commit, long step, int epoch, RngState rng, byte[]? optimizer)
    {
        Path = path; FileSha256 = fileSha256; Model = model; Ema = ema; Config = config; ConfigJson = configJson; SourceCommit = commit;
        Step = step; Epoch = epoch; Rng = rng; OptimizerState = optimizer;
    }

    /// <summary>Metadata for an exported graph of this checkpoint (dataset, classes, schedule, T, prediction, config hash, commit, the checkpoint's hash and step).</summary>
    public ModelMetadata ToMetadata(GraphKind graph, bool ema = true)
        => Config.ToMetadata(graph, ema, ConfigSha256, SourceCommit) with { CheckpointSha256 = FileSha256, CheckpointStep = Step };

    /// <summary>Writes a checkpoint atomically (temporary file, then rename).</summary>
    /// <param name="path">Destination file.</param>
    /// <param name="model">Trained network.</param>
    /// <param name="ema">EMA network (same architecture).</param>
    /// <param name="optimizerState">Optimizer state bytes, or null.</param>
    /// <param name="configJson">Resolved config JSON (<see cref="TrainConfig.ToJson"/>).</param>
    /// <param name="sourceCommit">Source commit.</param>
    /// <param name="step">Optimizer steps taken.</param>
    /// <param name="epoch">Epochs completed.</param>
    /// <param name="rng">Random state.</param>
    public static void Save(string path, UNet model, UNet ema, byte[]? optimizerState, string configJson, string sourceCommit, long step, int epoch, RngState rng)
    {
        using var payload = new MemoryStream();
        using (var w = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(configJson);
            w.Write(sourceCommit);
            w.Write(step);
            w.Write(epoch);
            w.Write(rng.ShuffleSeed);
            WriteBytes(w, rng.TorchGenerator);
            model.save(w);
            ema.save(w);
            w.Write(optimizerState is not null);
            if (optimizerState is not null) WriteBytes(w, optimizerState);
        }
        byte[] body = payload.GetBuffer();
        int length = (int)payload.Length;
        byte[] hash = SHA256.HashData(body.AsSpan(0, length));
        AtomicFile.Write(path, s =>
        {
            using var w = new BinaryWriter(s, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write((long)length);
            w.Write(hash);
            w.Write(body, 0, length);
        });
    }

    /// <summary>Loads a checkpoint onto the CPU, rebuilding the U-Net from the config it holds.</summary>
    /// <exception cref="InvalidInputException">Missing, truncated, corrupt or foreign file, or weights that do not match the architecture; the message names the file.</exception>
    public static Checkpoint Load(string path)
    {
        InputFile.Require(path, "Checkpoint");
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < HeaderSize || !bytes.AsSpan(0, 8).SequenceEqual(Magic))
            throw new InvalidInputException($"Checkpoint {path}: not a checkpoint of this trainer (expected the magic 'DDPMCKPT' at the start of the file).");
        int version = BitConverter.ToInt32(bytes, 8);
        if (version < 1 || version > FormatVersion)
            throw new InvalidInputException($"Checkpoint {path}: format version {version}; this trainer reads versions 1 to {FormatVersion}.");
        long length = BitConverter.ToInt64(bytes, 12);
        if (length != bytes.LongLength - HeaderSize)
            throw new InvalidInputException($"Checkpoint {path}: truncated or corrupt: header says {length} payload bytes, file holds {bytes.LongLength - HeaderSize}.");
        var body = bytes.AsSpan(HeaderSize);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(20, 32)))
            throw new InvalidInputException($"Checkpoint {path}: corrupt: the SHA-256 of its contents does not match the one stored in its header.");

        // The hash matched, so a failure below is a file written by something else (or a bug), not a flipped bit; each
        // is the same one-line error naming the file.
        using var r = new BinaryReader(new MemoryStream(bytes, HeaderSize, (int)length, writable: false), Encoding.UTF8);
        UNet? model = null, ema = null;
        try
        {
            string configJson = r.ReadString();
            var config = TrainConfig.ParseValid(configJson, $"checkpoint {path}");
            string commit = r.ReadString();
            long step = r.ReadInt64();
            int epoch = r.ReadInt32();
            long shuffleSeed = r.ReadInt64();
            byte[] torchRng = ReadBytes(r);
            if (step < 0 || epoch < 0)
                throw new InvalidInputException($"Checkpoint {path}: corrupt: step {step}, epoch {epoch}; expected counts >= 0.");
            model = new UNet(config.Model);
            ema = new UNet(config.Model);
            try
            {
                model.load(r, strict: true);
                ema.load(r, strict: true);
            }
            catch (ArgumentException e)
            {
                throw new InvalidInputException($"Checkpoint {path}: weights do not match the architecture in its config: {e.Message}", e);
            }
            ema.eval();
            byte[]? optimizer = r.ReadBoolean() ? ReadBytes(r) : null;
            if (r.BaseStream.Position != r.BaseStream.Length)
                throw new InvalidInputException($"Checkpoint {path}: {r.BaseStream.Length - r.BaseStream.Position} unexpected trailing bytes.");
            return new Checkpoint(path, Convert.ToHexStringLower(SHA256.HashData(bytes)), model, ema, config, configJson, commit, step, epoch, new RngState(torchRng, shuffleSeed), optimizer);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException or OverflowException or DecoderFallbackException)
        {
            model?.Dispose(); ema?.Dispose();
            throw new InvalidInputException($"Checkpoint {path}: corrupt payload ({e.Message}).", e);
        }
        catch
        {
            model?.Dispose(); ema?.Dispose();
            throw;
        }
    }

    private static void WriteBytes(BinaryWriter w, byte[] data)
    {
        w.Write(data.Length);
        w.Write(data);
    }

    private static byte[] ReadBytes(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n < 0 || n > r.BaseStream.Length - r.BaseStream.Position) throw new EndOfStreamException($"byte block of {n} bytes");
        return r.ReadBytes(n);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Model.Dispose();
        Ema.Dispose();
    }
}
