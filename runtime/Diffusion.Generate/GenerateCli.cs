using System.CommandLine;
using Diffusion.Runtime;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime.Samplers;
using Spectre.Console;
using Diffusion.Tools.Cli;

namespace Diffusion.Generate;

/// <summary>The <c>generate</c> command line (System.CommandLine); bad input exits with code 2.</summary>
public static class GenerateCli
{
    /// <summary>Runs the command line; returns the exit code (0 ok, 2 bad input, 1 other failure, 130 cancelled).</summary>
    /// <param name="args">Arguments, starting with the command name <c>generate</c>.</param>
    /// <param name="stdout">Where normal output goes (the console when null).</param>
    /// <param name="stderr">Where errors go (the console's error stream when null).</param>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var model = new Option<string>("--model") { Description = $"Model folder with {ModelFolderLayout.Unet} / {ModelFolderLayout.Guided}, or one .onnx file", DefaultValueFactory = _ => "models/mnist" };
        var digits = new Option<string>("--digits") { Description = "Classes to generate: 0-9, 3,5,7 or 0-2,8", DefaultValueFactory = _ => "0-9" };
        var perClass = new Option<int>("--per-class") { Description = "Images per class (one grid row per class)", DefaultValueFactory = _ => 8 };
        var guidance = new Option<float>("--guidance") { Description = $"Guidance scale, diffusers' convention: 1 = conditional ({ModelFolderLayout.Unet}), 0 = unconditional, >1 stronger ({ModelFolderLayout.Guided})", DefaultValueFactory = _ => 3f };
        var steps = new Option<int>("--steps") { Description = "Sampling steps, 1..T", DefaultValueFactory = _ => 20 };
        var sampler = new Option<string>("--sampler") { Description = SamplerFactory.Names, DefaultValueFactory = _ => "dpm++" };
        var student = new Option<string>("--student") { Description = "Distilled students of the model folder: auto (the one for --steps serves it, DDIM, one pass per step), off, or require (an error when none matches)", DefaultValueFactory = _ => "auto" };
        var eta = new Option<double>("--eta") { Description = "DDIM stochasticity (0 deterministic, 1 DDPM-like); ddim only", DefaultValueFactory = _ => 0.0 };
        var spacing = new Option<string>("--spacing") { Description = "Timestep spacing: trailing, leading or linspace", DefaultValueFactory = _ => "trailing" };
        var noClip = new Option<bool>("--no-clip") { Description = "Do not clip predicted x0 to [-1, 1] (clipping is on by default, as in diffusers' pixel-space schedulers)" };
        var threshold = new Option<bool>("--threshold") { Description = "Dynamic thresholding of predicted x0 (Imagen, percentile 0.995)" };
        var seed = new Option<ulong>("--seed") { Description = "Noise seed; image i depends only on (seed, i)", DefaultValueFactory = _ => 0UL };
        var batch = new Option<int>("--batch") { Description = "Images per model call", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("--threads") { Description = "CPU threads; 0 = physical cores", DefaultValueFactory = _ => 0 };
        var parallelism = new Option<string>("--parallelism")
        {
            Description = "How a model call uses the threads: auto (data-parallel for large batches), intra-op (one session, operators split over threads), data-parallel (one single-threaded session per thread, the batch split between them)",
            DefaultValueFactory = _ => "auto",
        };
        var chunkRows = new Option<int>("--chunk-rows") { Description = $"U-Net rows per call of a data-parallel worker (guided: 2 per image); 0 = {RuntimeOptions.DefaultChunkRows}", DefaultValueFactory = _ => 0 };
        var precision = new Option<string>("--precision")
        {
            Description = "Graphs of the model folder: auto (int8 on the CPU when the folder has them), float32 (the exported weights as trained), int8",
            DefaultValueFactory = _ => "auto",
        };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N (cuda needs the CUDA build: make build-cuda)", DefaultValueFactory = _ => "cpu" };
        var cudnnSearch = new Option<string>("--cudnn-search") { Description = "CUDA: cuDNN convolution algorithm search: exhaustive (once per batch size), heuristic or default", DefaultValueFactory = _ => "exhaustive" };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "CUDA: capture each batch size's model call as a CUDA graph and replay it every step" };
        var output = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "out/generate" };
        var format = new Option<string>("--format") { Description = "png, idx, gif, or a comma list (png,idx,gif)", DefaultValueFactory = _ => "png" };
        var single = new Option<bool>("--single") { Description = "Also write one PNG per image (single/{class}-{i}.png)" };
        var frames = new Option<int>("--frames") { Description = "Frames of the reverse / forward process (gif format, --forward-from)", DefaultValueFactory = _ => 10 };
        var forward = new Option<string?>("--forward-from") { Description = "Folder of IDX files (e.g. data/mnist) or an image folder: also write the forward (noising) process of a real test image per class" };
        var cache = new Option<string?>("--cache-dir") { Description = "Folder for ONNX Runtime's optimized graphs (faster later loads)" };
        var quiet = new Option<bool>("--quiet") { Description = "No progress bar" };

        var generate = new Command("generate", "Generate images from an exported diffusion model with ONNX Runtime")
        {
            model, digits, perClass, guidance, steps, sampler, eta, spacing, noClip, threshold, seed, batch, threads, parallelism, chunkRows, precision, device,
            cudnnSearch, cudaGraph, output, format, single, frames, forward, cache, quiet, student,
        };
        // data-shapes: the coloured-shapes image folder made here (issue 17), for the image-folder path's tests and demo
        var shapesOut = new Option<string>("--out") { Description = "Output image folder (train/ and test/ splits)", DefaultValueFactory = _ => Path.Combine("data", "shapes") };
        var shapesTrain = new Option<int>("--train-per-class") { Description = "Training images per class", DefaultValueFactory = _ => 1000 };
        var shapesTest = new Option<int>("--test-per-class") { Description = "Test images per class", DefaultValueFactory = _ => 200 };
        var shapesSize = new Option<int>("--size") { Description = "Image side in pixels", DefaultValueFactory = _ => 32 };
        var shapesSeed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var shapes = new Command("data-shapes", $"Write the coloured-shapes dataset ({string.Join(", ", Imaging.ShapesDataset.Classes)}) as an image folder")
            { shapesOut, shapesTrain, shapesTest, shapesSize, shapesSeed };
        shapes.SetAction(r =>
        {
            string dir = r.GetValue(shapesOut)!;
            Diffusion.Tools.OutputPath.CheckFolder(dir, "--out");
            int n = Imaging.ShapesDataset.Write(dir, r.GetValue(shapesTrain), r.GetValue(shapesTest), r.GetValue(shapesSize), r.GetValue(shapesSeed));
            stdout.WriteLine($"wrote {n} images ({Imaging.ShapesDataset.Classes.Count} classes) into {dir}/train and {dir}/test");
            return 0;
        });
        var root = new RootCommand("Diffusion runtime: class-conditional sampling with ONNX Runtime") { generate, shapes };

        int exit = 0;
        generate.SetAction(r =>
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                var (dev, devId) = RuntimeOptions.ParseDevice(r.GetValue(device)!);
                var settings = new GenerateSettings
                {
                    Model = r.GetValue(model)!,
                    Digits = r.GetValue(digits)!,
                    PerClass = r.GetValue(perClass),
                    Guidance = r.GetValue(guidance),
                    Steps = r.GetValue(steps),
                    Sampler = SamplerFactory.Parse(r.GetValue(sampler)!),
                    Student = Diffusion.Runtime.Generation.StudentModes.Parse(r.GetValue(student)!),
                    SamplerOptions = new SamplerOptions
                    {
                        Eta = r.GetValue(eta),
                        Spacing = TimestepSchedule.ParseSpacing(r.GetValue(spacing)!),
                        ClipSample = !r.GetValue(noClip),
                        Thresholding = r.GetValue(threshold),
                    },
                    Seed = r.GetValue(seed),
                    Batch = r.GetValue(batch),
                    Runtime = new RuntimeOptions { Device = dev, DeviceId = devId, IntraOpThreads = r.GetValue(threads),
                        Parallelism = RuntimeOptions.ParseParallelism(r.GetValue(parallelism)!), ChunkRows = r.GetValue(chunkRows),
                        Precision = RuntimeOptions.ParsePrecision(r.GetValue(precision)!), OptimizedModelCacheDirectory = r.GetValue(cache),
                        CudnnSearch = RuntimeOptions.ParseCudnnSearch(r.GetValue(cudnnSearch)!), CudaGraph = r.GetValue(cudaGraph) },
                    Out = r.GetValue(output)!,
                    Formats = GenerateSettings.ParseFormats(r.GetValue(format)!),
                    Single = r.GetValue(single),
                    Frames = r.GetValue(frames),
                    ForwardFrom = r.GetValue(forward),
                    Quiet = r.GetValue(quiet),
                };
                GenerateJob.Run(settings, console, cts.Token);
                exit = 0;
            }
            catch (InvalidInputException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                exit = InvalidInputException.ExitCode;
            }
            catch (OperationCanceledException)
            {
                stderr.WriteLine("cancelled; no output written for the unfinished generation.");
                exit = 130;
            }
            finally { Console.CancelKeyPress -= onCancel; }
            return exit;
        });

        return CliHost.Run(root, args, stdout, stderr, "Run 'generate --help' for the options.");
    }
}
