return Diffusion.Generate.GenerateCli.Run(args);
