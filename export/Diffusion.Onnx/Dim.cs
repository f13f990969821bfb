using System.Globalization;

namespace Diffusion.Onnx;

/// <summary>
/// One tensor dimension as the graph builder tracks it: a fixed size (<c>28</c>), a multiple of a symbolic
/// dimension (<c>batch</c>, <c>2*batch</c>) or unknown. Written to ONNX as <c>dim_value</c> or <c>dim_param</c>.
/// </summary>
public readonly record struct Dim
{
    /// <summary>Size (when <see cref="Param"/> is null) or multiplier of <see cref="Param"/>; 0 with no param = unknown.</summary>
    public long Coefficient { get; }
    /// <summary>Symbolic name, or null for a fixed size.</summary>
    public string? Param { get; }
    /// <summary>False for a dimension nothing is known about.</summary>
    public bool IsKnown { get; }

    private Dim(long coefficient, string? param, bool known) { Coefficient = coefficient; Param = param; IsKnown = known; }

    /// <summary>A fixed size.</summary>
    public static Dim Of(long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        return new Dim(size, null, true);
    }

    /// <summary>A symbolic dimension <paramref name="param"/>, optionally multiplied by <paramref name="coefficient"/> (e.g. 2*batch).</summary>
    public static Dim Symbol(string param, long coefficient = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(param);
        ArgumentOutOfRangeException.ThrowIfLessThan(coefficient, 1);
        return new Dim(coefficient, param, true);
    }

    /// <summary>A dimension of unknown size.</summary>
    public static Dim Unknown => default;

    /// <summary>True for a fixed size.</summary>
    public bool IsFixed => IsKnown && Param is null;

    /// <summary>The fixed size; throws for symbolic or unknown dimensions.</summary>
    public long Size => IsFixed ? Coefficient : throw new InvalidOperationException($"Dimension {this} has no fixed size.");

    /// <summary>A fixed size.</summary>
    public static implicit operator Dim(long size) => Of(size);

    /// <summary>The symbolic dimension named <paramref name="param"/>.</summary>
    public static implicit operator Dim(string param) => Symbol(param);

    /// <summary>Sum of two dimensions (Concat): fixed + fixed, or k*p + m*p = (k+m)*p; otherwise unknown.</summary>
    public static Dim operator +(Dim a, Dim b)
    {
        if (!a.IsKnown || !b.IsKnown || a.Param != b.Param) return Unknown;
        return new Dim(a.Coefficient + b.Coefficient, a.Param, true);
    }

    /// <summary>Product with a fixed dimension; the product of two symbolic dimensions is unknown.</summary>
    public static Dim operator *(Dim a, Dim b)
    {
        if (!a.IsKnown || !b.IsKnown || (a.Param is not null && b.Param is not null)) return Unknown;
        return new Dim(a.Coefficient * b.Coefficient, a.Param ?? b.Param, true);
    }

    /// <summary>Exact quotient (k*p / m = (k/m)*p, k*p / m*p = k/m); unknown when it does not divide evenly.</summary>
    public static Dim operator /(Dim a, Dim b)
    {
        if (!a.IsKnown || !b.IsKnown || b.Coefficient == 0 || a.Coefficient % b.Coefficient != 0) return Unknown;
        if (b.Param is null) return new Dim(a.Coefficient / b.Coefficient, a.Param, true);
        if (a.Param == b.Param) return new Dim(a.Coefficient / b.Coefficient, null, true);
        return Unknown;
    }

    /// <summary>The ONNX <c>dim_param</c> text: "batch" or "2*batch"; "?" when unknown.</summary>
    public override string ToString() => !IsKnown ? "?"
        : Param is null ? Coefficient.ToString(CultureInfo.InvariantCulture)
        : Coefficient == 1 ? Param : $"{Coefficient.ToString(CultureInfo.InvariantCulture)}*{Param}";

    /// <summary>Parses a <c>dim_param</c> written by <see cref="ToString"/> ("batch", "2*batch").</summary>
    public static Dim ParseParam(string text)
    {
        int star = text.IndexOf('*');
        if (star > 0 && long.TryParse(text.AsSpan(0, star), NumberStyles.Integer, CultureInfo.InvariantCulture, out long k) && k >= 1)
            return Symbol(text[(star + 1)..], k);
        return Symbol(text);
    }
}
