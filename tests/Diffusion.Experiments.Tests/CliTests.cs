using Diffusion.Runtime;

namespace Diffusion.Experiments.Tests;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = ExperimentsCli.Run(["experiments", .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string Matrix => Repo.File("configs", "experiments.json");

    [Fact]
    public void A_missing_matrix_exits_2_naming_the_file()
    {
        var (code, _, err) = Run("--matrix", "no/such/experiments.json");
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains("no/such/experiments.json", err);
    }

    [Fact]
    public void A_bad_matrix_exits_2_naming_the_file_and_the_field()
    {
        using var dir = new TempDir();
        string path = dir["bad.json"];
        File.WriteAllText(path, File.ReadAllText(Matrix).Replace("\"batch_size\": 64", "\"batch_sise\": 64", StringComparison.Ordinal));
        var (code, _, err) = Run("--matrix", path);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains(path, err);
        Assert.Contains("batch_sise", err);
    }

    [Fact]
    public void An_unknown_run_in_only_exits_2_naming_it()
    {
        var (code, _, err) = Run("--matrix", Matrix, "--only", "small,huge");
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains("'huge'", err);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    public void A_budget_of_zero_or_less_exits_2(string minutes)
    {
        var (code, _, err) = Run("--matrix", Matrix, "--budget-minutes", minutes);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains("--budget-minutes", err);
    }

    [Fact]
    public void Missing_judges_exit_2_naming_the_folder()
    {
        using var dir = new TempDir();
        var (code, _, err) = Run("--matrix", Matrix, "--judges", dir["no-judges"], "--out", dir["out"]);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains(dir["no-judges"], err);
        Assert.False(Directory.Exists(dir["out"]), "nothing is written before the input is checked");
    }

    [Fact]
    public void Bad_options_exit_2()
    {
        Assert.Equal(InvalidInputException.ExitCode, Run("--threads", "-1", "--matrix", Matrix).Code);
        Assert.Equal(InvalidInputException.ExitCode, Run("--per-class", "0", "--matrix", Matrix).Code);
        Assert.Equal(InvalidInputException.ExitCode, Run("--no-such-option").Code);
    }
}
