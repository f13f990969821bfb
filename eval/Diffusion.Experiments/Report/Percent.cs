using System.Globalization;

namespace Diffusion.Experiments.Report;

/// <summary>Percentages as the report writes them: "90.4%" (the invariant culture's P format would write "90.4 %").</summary>
public static class Percent
{
    /// <summary><paramref name="fraction"/> x 100 with <paramref name="decimals"/> decimals and a percent sign.</summary>
    public static string Of(double fraction, int decimals) => (fraction * 100).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + "%";
}
