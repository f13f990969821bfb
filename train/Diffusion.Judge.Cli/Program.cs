return Diffusion.Judge.JudgeCli.Run(args);
