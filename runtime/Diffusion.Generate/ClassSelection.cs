using System.Globalization;
using Diffusion.Runtime;

namespace Diffusion.Generate;

/// <summary>Parses class lists such as <c>0-9</c>, <c>3,5,7</c> or <c>0-2,8</c>.</summary>
public static class ClassSelection
{
    /// <summary>Classes in the order given, duplicates removed.</summary>
    /// <exception cref="InvalidInputException">Syntax error or a class outside 0..numClasses-1.</exception>
    public static int[] Parse(string spec, int numClasses)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new InvalidInputException("--digits is empty; expected classes like 0-9 or 3,5,7.");
        var result = new List<int>();
        foreach (var raw in spec.Split(',', StringSplitOptions.TrimEntries))
        {
            int dash = raw.IndexOf('-', 1 < raw.Length ? 1 : 0);
            (int lo, int hi) = dash > 0 ? (Number(raw[..dash], spec), Number(raw[(dash + 1)..], spec)) : (Number(raw, spec), Number(raw, spec));
            if (hi < lo) throw new InvalidInputException($"--digits '{spec}': range {raw} is descending; expected low-high.");
            for (int c = lo; c <= hi; c++)
            {
                if (c < 0 || c >= numClasses)
                    throw new InvalidInputException($"--digits '{spec}': class {c} is unknown; this model has classes 0 to {numClasses - 1}.");
                if (!result.Contains(c)) result.Add(c);
            }
        }
        return [.. result];
    }

    private static int Number(string s, string spec)
        => int.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)
            ? v : throw new InvalidInputException($"--digits '{spec}': '{s}' is not a class number; expected classes like 0-9 or 3,5,7.");
}
