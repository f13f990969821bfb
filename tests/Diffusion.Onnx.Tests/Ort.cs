using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Onnx.Tests;

/// <summary>Runs a model in ONNX Runtime (CPU) through the OrtValue API.</summary>
public static class Ort
{
    /// <summary>An input: a float or int64 buffer with its shape.</summary>
    public sealed record Input(string Name, Array Data, long[] Shape);

    /// <summary>Runs <paramref name="model"/> and returns each output's float data.</summary>
    public static float[][] Run(byte[] model, IReadOnlyList<Input> inputs, params string[] outputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        var values = new List<OrtValue>();
        try
        {
            foreach (var i in inputs)
                values.Add(i.Data switch
                {
                    float[] f => OrtValue.CreateTensorValueFromMemory(f, i.Shape),
                    long[] l => OrtValue.CreateTensorValueFromMemory(l, i.Shape),
                    _ => throw new ArgumentException($"unsupported input type {i.Data.GetType()}"),
                });
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, outputs);
            return results.Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>Output shapes as ONNX Runtime reports them for the given inputs.</summary>
    public static long[] OutputShape(byte[] model, IReadOnlyList<Input> inputs, string output)
    {
        using var session = new InferenceSession(model);
        var values = inputs.Select(i => i.Data is float[] f ? OrtValue.CreateTensorValueFromMemory(f, i.Shape) : OrtValue.CreateTensorValueFromMemory((long[])i.Data, i.Shape)).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, [output]);
            return results[0].GetTensorTypeAndShape().Shape;
        }
        finally { foreach (var v in values) v.Dispose(); }
    }
}
