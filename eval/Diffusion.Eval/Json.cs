using System.Text.Json;
using System.Text.Json.Serialization;

namespace Diffusion.Eval;

/// <summary>JSON settings of every file eval writes: snake_case, indented, enums as names, NaN and infinity allowed.</summary>
public static class Json
{
    /// <summary>The shared options.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Serializes with <see cref="Options"/>.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Reads a JSON file written with <see cref="Options"/>.</summary>
    /// <exception cref="Runtime.InvalidInputException">Missing or malformed file.</exception>
    public static T Read<T>(string path)
    {
        if (!File.Exists(path)) throw new Runtime.InvalidInputException($"File not found: {path}");
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                ?? throw new Runtime.InvalidInputException($"{path}: empty JSON document.");
        }
        catch (JsonException e) { throw new Runtime.InvalidInputException($"{path}: not a valid {typeof(T).Name} JSON file ({e.Message}).", e); }
    }
}
