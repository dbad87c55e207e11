"""A ch11 submission that passes every visible test but forgets to zero D's gradients.

The generator's backward pass flows through D and leaves gradients in D's parameters; without
opt_D.zero_grad() they are added to the next discriminator step. The first step (all the visible
test runs) is still right; the hidden test runs three steps against a reference and fails. The
other tasks are correct.
"""
WRONG = {
    "train_step": '''def train_step(G, D, opt_G, opt_D, real, z, smooth=0.1):
    fake = G(z)
    loss_D = discriminator_loss_smoothed(D(real), D(fake.detach()), smooth)
    loss_D.backward()
    opt_D.step()

    opt_G.zero_grad()
    loss_G = F.softplus(-D(fake)).mean()
    loss_G.backward()
    opt_G.step()
    return loss_D.item(), loss_G.item()
''',
}
