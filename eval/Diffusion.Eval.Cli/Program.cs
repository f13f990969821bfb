return Diffusion.Eval.EvalCli.Run(args);
