using System.Text.Json;
using Diffusion.Generate;
using Diffusion.Runtime.Tests;
using ImageMagick;
using Diffusion.Tools;

namespace Diffusion.Runtime.Tests;

public class GenerateCliTests
{
    // a folder that does not exist yet (the CLI must create it), under the test process's temp root
    private static string NewDir() => Path.Combine(TinyModels.NewTempDir(), "out");

    private static (int Exit, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = GenerateCli.Run(["generate", "--quiet", "--threads", "1", .. args], o, e);
        return (code, o.ToString(), e.ToString());
    }

    // A two-class IDX "test set" for --forward-from.
    private static string TinyData()
    {
        string dir = TinyModels.NewTempDir();
        var images = new byte[3 * 28 * 28];
        for (int i = 0; i < images.Length; i++) images[i] = (byte)(i * 7 % 256);
        Idx.Write(Path.Combine(dir, "t10k-images-idx3-ubyte"), [3, 28, 28], images);
        Idx.Write(Path.Combine(dir, "t10k-labels-idx1-ubyte"), [3], [2, 5, 2]);
        return dir;
    }

    [Fact]
    public void WritesGrid_Singles_Idx_Reverse_AndForward()
    {
        string model = TinyModels.Folder(), outDir = NewDir();
        var (code, stdout, stderr) = Cli("--model", model, "--digits", "2,5", "--per-class", "3", "--steps", "6", "--frames", "3",
            "--format", "png,idx,gif", "--single", "--forward-from", TinyData(), "--out", outDir, "--guidance", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("6 images", stdout);

        using (var grid = new MagickImage(Path.Combine(outDir, "grid.png")))
        {
            // 2 rows x 3 columns of 28 px with 2 px padding, upscaled 2x
            Assert.Equal((uint)((3 * 30 + 2) * 2), grid.Width);
            Assert.Equal((uint)((2 * 30 + 2) * 2), grid.Height);
        }
        Assert.Equal(6, Directory.GetFiles(Path.Combine(outDir, "single"), "*.png").Length);
        Assert.True(File.Exists(Path.Combine(outDir, "single", "5-002.png")));

        var data = IdxDataset.Load(Path.Combine(outDir, "images-idx3-ubyte"), Path.Combine(outDir, "labels-idx1-ubyte"));
        Assert.Equal(6, data.Count);
        Assert.Equal(new byte[] { 2, 2, 2, 5, 5, 5 }, data.Labels.Data);

        // reverse process: frames at steps 0, 2, 4, 6 -> a 4-frame GIF and 2 x 4 strips
        using (var gif = new MagickImageCollection(Path.Combine(outDir, "reverse.gif"))) Assert.Equal(4, gif.Count);
        using (var strip = new MagickImage(Path.Combine(outDir, "reverse.png"))) Assert.Equal((uint)((4 * 30 + 2) * 2), strip.Width);
        Assert.True(File.Exists(Path.Combine(outDir, "reverse-x0.png")));
        // the reverse process ends on the grid's first image of each class
        using (var strip = new MagickImage(Path.Combine(outDir, "reverse.png")))
        using (var grid = new MagickImage(Path.Combine(outDir, "grid.png")))
        {
            var s = strip.GetPixels().ToByteArray(PixelMapping.RGB)!; var g = grid.GetPixels().ToByteArray(PixelMapping.RGB)!;
            int sw = (int)strip.Width, gw = (int)grid.Width;
            for (int y = 4; y < 4 + 56; y += 5)
                for (int x = 0; x < 56; x += 5)
                    Assert.Equal(g[(y * gw + 4 + x) * 3], s[(y * sw + 4 + 3 * 60 + x) * 3]);
        }
        // forward process: clean image + 3 noised frames
        using (var gif = new MagickImageCollection(Path.Combine(outDir, "forward.gif"))) Assert.Equal(4, gif.Count);
        Assert.True(File.Exists(Path.Combine(outDir, "forward.png")));
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void SameSeed_SameIdxBytes_WhateverTheBatch()
    {
        string model = TinyModels.Folder();
        byte[] Run(string batch, string seed, params string[] more)
        {
            string outDir = NewDir();
            var (code, _, err) = Cli(["--model", model, "--per-class", "3", "--steps", "5", "--sampler", "ddpm", "--format", "idx", "--batch", batch, "--seed", seed, "--out", outDir, .. more]);
            Assert.True(code == 0, err);
            return File.ReadAllBytes(Path.Combine(outDir, "images-idx3-ubyte"));
        }
        var a = Run("64", "7");
        Assert.Equal(a, Run("1", "7"));
        Assert.Equal(a, Run("30", "7", "--parallelism", "data-parallel", "--chunk-rows", "4"));
        Assert.Equal(a, Run("30", "7", "--parallelism", "intra-op"));
        Assert.Equal(a, Run("7", "7"));
        Assert.NotEqual(a, Run("64", "8"));
    }

    // DPM-Solver++(3M) from the command line: batch invariance holds as for the other samplers, and it differs from 2M.
    [Fact]
    public void ThirdOrderSolver_IsBatchInvariant_AndNot2M()
    {
        string model = TinyModels.Folder();
        byte[] Run(string sampler, string batch)
        {
            string outDir = NewDir();
            var (code, _, err) = Cli(["--model", model, "--per-class", "3", "--steps", "6", "--sampler", sampler, "--format", "idx", "--batch", batch, "--guidance", "2", "--out", outDir]);
            Assert.True(code == 0, err);
            return File.ReadAllBytes(Path.Combine(outDir, "images-idx3-ubyte"));
        }
        var a = Run("dpm++3m", "64");
        Assert.Equal(a, Run("dpm++3m", "4"));
        Assert.NotEqual(a, Run("dpm++", "64"));
    }

    // A 3-channel model (issue 17): the grid, the reverse strips and the GIFs are in colour, the forward process reads a
    // colour image folder; IDX files stay greyscale-only and say so.
    [Fact]
    public void ColourModels_WriteRgbPngGridsAndGifs_AndRefuseIdx()
    {
        string dir = TinyModels.NewTempDir();
        Diffusion.Onnx.OnnxHelper.Save(TinyModels.Build(TinyModels.Meta(GraphKind.Unet, c: 3, h: 8, w: 8)), Path.Combine(dir, "unet.onnx"));
        Diffusion.Onnx.OnnxHelper.Save(TinyModels.Build(TinyModels.Meta(GraphKind.Guided, c: 3, h: 8, w: 8)), Path.Combine(dir, "unet-guided.onnx"));
        string outDir = NewDir();
        var (code, _, err) = Cli("--model", dir, "--digits", "1,2", "--per-class", "2", "--steps", "3", "--format", "png", "--single", "--out", outDir);
        Assert.True(code == 0, err);
        using (var grid = SkiaSharp.SKBitmap.Decode(Path.Combine(outDir, "grid.png")))
        {
            Assert.Equal((2 * (8 + 2) + 2) * 2, grid.Width); // 2 per class, pad 2, scale 2
            Assert.NotEqual(SkiaSharp.SKColorType.Gray8, grid.ColorType);
        }
        using (var single = SkiaSharp.SKBitmap.Decode(Path.Combine(outDir, "single", "1-000.png")))
            Assert.Equal(8, single.Width);
        var bad = Cli("--model", dir, "--format", "png,idx", "--out", NewDir());
        Assert.Equal(2, bad.Exit);
        Assert.Contains("greyscale images only", bad.Err);

        // GIFs and the forward process from an image folder (16x16 shapes, resized to the model's 8x8) in colour
        string shapes = TinyModels.NewTempDir(), gifDir = NewDir(), four = TinyModels.NewTempDir();
        Diffusion.Imaging.ShapesDataset.Write(shapes, trainPerClass: 1, testPerClass: 1, size: 16, seed: 2);
        foreach (var g in new[] { GraphKind.Unet, GraphKind.Guided })
            Diffusion.Onnx.OnnxHelper.Save(TinyModels.Build(TinyModels.Meta(g, c: 3, h: 8, w: 8) with { NumClasses = 4, ClassNames = Diffusion.Imaging.ShapesDataset.Classes }),
                Path.Combine(four, g == GraphKind.Unet ? "unet.onnx" : "unet-guided.onnx"));
        var (gifCode, _, gifErr) = Cli("--model", four, "--digits", "1,2", "--per-class", "1", "--steps", "3", "--format", "gif", "--frames", "3", "--forward-from", shapes, "--out", gifDir);
        Assert.True(gifCode == 0, gifErr);
        foreach (var f in new[] { "reverse.png", "forward.png" })
            using (var strip = SkiaSharp.SKBitmap.Decode(Path.Combine(gifDir, f)))
                Assert.NotEqual(SkiaSharp.SKColorType.Gray8, strip.ColorType);
        foreach (var f in new[] { "reverse.gif", "forward.gif" })
            using (var gif = new ImageMagick.MagickImageCollection(Path.Combine(gifDir, f)))
                Assert.True(gif.Count >= 2, f);
        using (var forward = new ImageMagick.MagickImageCollection(Path.Combine(gifDir, "forward.gif")))
            Assert.NotEqual(ImageMagick.ColorType.Grayscale, forward[0].DetermineColorType()); // the clean shapes' colours survive the palette
    }

    public static TheoryData<string[], string> BadArgs => new()
    {
        { ["--digits", "3,12"], "class 12" },
        { ["--digits", "x"], "--digits" },
        { ["--steps", "0"], "steps = 0" },
        { ["--steps", "1001"], "1001" },
        { ["--guidance", "NaN"], "NaN" },
        { ["--guidance", "-2"], "-2" },
        { ["--batch", "0"], "--batch 0" },
        { ["--per-class", "0"], "--per-class" },
        { ["--per-class", "2000000000"], "expected 1 to 10000" },
        { ["--seed", "abc"], "expected a whole number >= 0" },
        { ["--cache-dir", "/etc/hostname"], "--cache-dir /etc/hostname is a file; expected a folder." },
        { ["--sampler", "euler"], "euler" },
        { ["--format", "bmp"], "bmp" },
        { ["--eta", "0.5"], "eta" },
        { ["--device", "tpu"], "tpu" },
        { ["--device", "cuda"], "make build-cuda" },
        { ["--device", "cuda", "--cudnn-search", "fastest"], "fastest" },
        { ["--cuda-graph"], "CUDA graphs need --device cuda" },
        { ["--steps", "abc"], "abc" },
        { ["--forward-from", "/no/such/data"], "/no/such/data" },
        { ["--parallelism", "gpu"], "expected auto, intra-op or data-parallel" },
        { ["--chunk-rows", "-4"], "Chunk = -4" },
        { ["--device", "cuda", "--parallelism", "data-parallel"], "CPU mode" },
        { ["--student", "maybe"], "--student maybe; expected auto, off or require." },
        { ["--student", "require", "--steps", "4"], "This model has no distilled students" },
    };

    [Theory]
    [MemberData(nameof(BadArgs))]
    public void BadInput_Exits2_WritesNothing(string[] args, string expected)
    {
        string model = TinyModels.Folder(), outDir = NewDir();
        var (code, _, err) = Cli(["--model", model, "--out", outDir, .. args]);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), "output written despite bad input");
    }

    [Fact]
    public void A_student_in_the_folder_serves_its_step_count_and_says_so()
    {
        string model = TinyModels.StudentFolder(4);
        var (code, output, err) = Cli(["--model", model, "--per-class", "1", "--digits", "0-1", "--steps", "4", "--format", "idx", "--out", NewDir()]);
        Assert.True(code == 0, err);
        Assert.Contains("4 model calls on unet-student-4.onnx", output);
        (code, output, err) = Cli(["--model", model, "--per-class", "1", "--digits", "0-1", "--steps", "4", "--student", "off", "--format", "idx", "--out", NewDir()]);
        Assert.True(code == 0, err);
        Assert.Contains("4 model calls on unet-guided.onnx", output);
        (code, _, err) = Cli(["--model", model, "--steps", "5", "--student", "require", "--out", NewDir()]);
        Assert.Equal(2, code);
        Assert.Contains("No student was distilled for 5 steps; this model's students take 4 steps.", err);
    }

    [Fact]
    public void MissingForeignOrPartialModels_AndBadOutput_Exit2()
    {
        string outDir = NewDir();
        Assert.Equal(2, Cli("--model", "/no/such/model", "--out", outDir).Exit);
        string foreign = TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), editMeta: _ => []), "unet.onnx");
        var (code, _, err) = Cli("--model", foreign, "--out", outDir);
        Assert.Equal(2, code); Assert.Contains("foreign", err);
        // only unet.onnx: scale 1 works, scale 2 is refused
        string plainOnly = Path.GetDirectoryName(TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet)), "unet.onnx"))!;
        Assert.Contains("unet-guided.onnx", Cli("--model", plainOnly, "--out", outDir, "--guidance", "2").Err);
        Assert.False(Directory.Exists(outDir));
        Assert.Equal(0, Cli("--model", plainOnly, "--out", outDir, "--guidance", "1", "--steps", "2", "--per-class", "1").Exit);
        // --out is a file
        string file = Path.Combine(outDir, "grid.png");
        var bad = Cli("--model", TinyModels.Folder(), "--out", file);
        Assert.Equal(2, bad.Exit); Assert.Contains("--out", bad.Err);
    }

    // A write that fails part-way through the outputs (here a folder in the way of the labels file): exit 2 naming
    // it, the files written before it are whole, and a marker says the set is incomplete until a run completes.
    [Fact]
    public void AFailedWritePartWay_LeavesTheIncompleteMarker_UntilARunCompletes()
    {
        string model = TinyModels.Folder(), outDir = NewDir();
        Directory.CreateDirectory(Path.Combine(outDir, "labels-idx1-ubyte"));
        string[] args = ["--model", model, "--digits", "1,2", "--per-class", "2", "--steps", "2", "--format", "png,idx", "--out", outDir];
        var (code, _, err) = Cli(args);
        Assert.Equal(2, code);
        Assert.Contains(Path.Combine(outDir, "labels-idx1-ubyte"), err);
        string marker = Path.Combine(outDir, IncompleteMarker.FileName);
        Assert.True(File.Exists(marker), "no marker after a failed write");
        Assert.Contains("each file here is whole, but the set is not", File.ReadAllText(marker));
        Assert.True(File.Exists(Path.Combine(outDir, "grid.png")));
        Assert.True(File.Exists(Path.Combine(outDir, "images-idx3-ubyte")));

        Directory.Delete(Path.Combine(outDir, "labels-idx1-ubyte"));
        Assert.Equal(0, Cli(args).Exit);
        Assert.False(File.Exists(marker), "the marker stays after a complete run");
        Assert.True(File.Exists(Path.Combine(outDir, "labels-idx1-ubyte")));
    }

    // The CLI's resolved dependency graph (deps.json next to the assembly) has no TorchSharp either.
    [Fact]
    public void CliDependencyGraph_HasNoTorchSharp()
    {
        string deps = Path.Combine(AppContext.BaseDirectory, "Diffusion.Generate.deps.json");
        if (!File.Exists(deps)) deps = Path.Combine(AppContext.BaseDirectory, "Diffusion.Generate.Tests.deps.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(deps));
        var libs = doc.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains(libs, l => l.StartsWith("Microsoft.ML.OnnxRuntime/", StringComparison.Ordinal));
        Assert.DoesNotContain(libs, l => l.StartsWith("TorchSharp", StringComparison.OrdinalIgnoreCase) || l.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase));
    }
}
