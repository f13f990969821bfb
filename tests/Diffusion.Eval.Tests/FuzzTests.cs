using System.Text;
using Diffusion.Eval.Judges;
using Diffusion.Runtime;
using Diffusion.Tests.Shared;

namespace Diffusion.Eval.Tests;

/// <summary>
/// Fuzz test of the judge card reader (issue 15): 1,000 seeded mutations of a judge card (the release MNIST card,
/// its files replaced by small stand-ins with matching hashes, so that a mutation that keeps the card valid reaches
/// the file checks), and judge files swapped for one another. Each either reads or fails with
/// <see cref="InvalidInputException"/> naming the card or the file; no other exception escapes.
/// </summary>
public class FuzzTests
{
    [Fact]
    public void Judge_cards_read_or_fail_naming_the_file()
    {
        string dir = Directory.CreateTempSubdirectory("judge-fuzz").FullName;
        try
        {
            var release = JudgeCard.Load(Path.Combine(Repo.Root, "models", "mnist", ModelFolderLayout.JudgeCard));
            JudgeFile Stand_in(string name, string content)
            {
                File.WriteAllText(Path.Combine(dir, name), content);
                return JudgeFile.Of(Path.Combine(dir, name), dir);
            }
            var card = release with
            {
                Onnx = Stand_in(ModelFolderLayout.JudgeOnnx, "onnx"),
                MlNet = Stand_in(ModelFolderLayout.JudgeMlNet, "ml.net"),
                LightGbm = Stand_in(ModelFolderLayout.JudgeLightGbm, "lightgbm"),
            };
            string cardPath = Path.Combine(dir, ModelFolderLayout.JudgeCard);
            card.Save(cardPath);
            Assert.Equal(card.MlNet!.Sha256, JudgeSet.ReadCard(dir, requireLightGbm: true).Card.MlNet!.Sha256);
            byte[] valid = File.ReadAllBytes(cardPath);

            var failures = Mutations.Run<InvalidInputException>(Mutations.Of(valid, 1000, seed: 31, text: true), cardPath,
                _ => JudgeSet.ReadCard(dir, requireLightGbm: true), dir);
            // judge files swapped for one another: the hashes tell them apart
            File.WriteAllBytes(cardPath, valid);
            File.Move(Path.Combine(dir, ModelFolderLayout.JudgeMlNet), Path.Combine(dir, "tmp"));
            File.Move(Path.Combine(dir, ModelFolderLayout.JudgeLightGbm), Path.Combine(dir, ModelFolderLayout.JudgeMlNet));
            File.Move(Path.Combine(dir, "tmp"), Path.Combine(dir, ModelFolderLayout.JudgeLightGbm));
            var e = Assert.Throws<InvalidInputException>(() => JudgeSet.ReadCard(dir));
            Assert.Contains(Path.Combine(dir, ModelFolderLayout.JudgeMlNet), e.Message);
            Assert.True(failures.Count == 0, $"{failures.Count} mutations of the judge card escaped the project's error:\n" + string.Join("\n", failures.Take(20)));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
