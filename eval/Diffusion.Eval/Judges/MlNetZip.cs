using Diffusion.Runtime;
using Microsoft.ML;

namespace Diffusion.Eval.Judges;

/// <summary>Loading an ML.NET model zip with the judges' error messages (both judges are saved this way).</summary>
internal static class MlNetZip
{
    /// <summary>Loads <paramref name="zipPath"/>; <paramref name="missing"/> is the message when the file does not exist.</summary>
    /// <exception cref="InvalidInputException">Missing file, or not an ML.NET model file.</exception>
    public static (MLContext Ml, ITransformer Model, DataViewSchema Schema) Load(string zipPath, string missing)
    {
        if (!File.Exists(zipPath)) throw new InvalidInputException(missing);
        var ml = new MLContext(seed: 0);
        try
        {
            using var fs = File.OpenRead(zipPath);
            var model = ml.Model.Load(fs, out var schema);
            return (ml, model, schema);
        }
        catch (Exception e) when (e is not InvalidInputException)
        {
            throw new InvalidInputException($"{zipPath} is not an ML.NET model file ({e.GetType().Name}: {e.Message}).", e);
        }
    }
}
