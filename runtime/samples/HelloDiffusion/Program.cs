// Generates one image per class from an exported model folder and prints it as text.
// Usage: HelloDiffusion [model folder, default models/mnist] [guidance scale, default 3]
using System.Globalization;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

string folder = args.Length > 0 ? args[0] : "models/mnist";
float scale = args.Length > 1 ? float.Parse(args[1], CultureInfo.InvariantCulture) : 3f;
try
{
    using var pipeline = DiffusionPipeline.Load(folder);
    var meta = pipeline.Metadata;
    var request = new GenerationRequest
    {
        Labels = Enumerable.Range(0, meta.NumClasses).ToArray(),
        GuidanceScale = scale,
        Steps = 20,
        Sampler = SamplerKind.DpmSolverPlusPlus,
        Seed = 42,
    };
    var result = pipeline.Generate(request);
    const string shades = " .:-=+*#%@";
    for (int i = 0; i < result.Count; i++)
    {
        Console.WriteLine($"class {result.Labels[i]} ({(meta.ClassNames.Count > i ? meta.ClassNames[i] : "?")}):");
        var img = result.Image(i);
        for (int y = 0; y < result.Height; y += 2)
        {
            var line = new char[result.Width];
            for (int x = 0; x < result.Width; x++) line[x] = shades[Pixels.ToByte(img[y * result.Width + x]) * (shades.Length - 1) / 255];
            Console.WriteLine(new string(line));
        }
    }
    Console.WriteLine($"{result.Count} images, {result.ModelCalls} model calls, {result.Elapsed.TotalMilliseconds:F0} ms " +
        $"(Diffusion.Runtime {typeof(DiffusionPipeline).Assembly.GetName().Version})");
    return 0;
}
catch (InvalidInputException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return InvalidInputException.ExitCode;
}
